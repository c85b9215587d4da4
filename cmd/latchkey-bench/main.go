// Command latchkey-bench is Latchkey's load tool, kept out of the server
// binary: `latchkey-bench flow` and `latchkey-bench endpoint` drive a
// running `latchkey serve` over loopback HTTP with software passkeys, and
// `latchkey-bench start` times the start-up of `latchkey serve` processes
// it execs itself. Its global flags (and their LATCHKEY_* environment
// twins) are the server's, so one data directory or DSN reaches both.
package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
)

// cli is the whole command line: the global flags of `latchkey` that the
// load tool uses, with the same names, defaults and environment variables,
// then the subcommands of what was `latchkey bench`.
type cli struct {
	Config    kong.ConfigFlag `help:"JSON file with flag values (keys are flag names)." env:"LATCHKEY_CONFIG" placeholder:"FILE"`
	DataDir   string          `help:"Data directory of the server under test (its SQLite database)." default:"data" env:"LATCHKEY_DATA_DIR" placeholder:"DIR"`
	Database  string          `help:"Database DSN of the server under test: empty for SQLite in the data dir, a SQLite file path, or postgres://…" env:"LATCHKEY_DATABASE" placeholder:"DSN"`
	Issuer    string          `help:"Public base URL of the server under test." default:"http://localhost:8080" env:"LATCHKEY_ISSUER" placeholder:"URL"`
	LogLevel  string          `help:"debug, info, warn or error." default:"info" enum:"debug,info,warn,error" env:"LATCHKEY_LOG_LEVEL"`
	LogFormat string          `help:"json or text." default:"json" enum:"json,text" env:"LATCHKEY_LOG_FORMAT"`

	Flow     benchFlowCmd     `cmd:"" help:"Complete sign-ins: authorize → passkey → callback → code exchange → userinfo → refresh."`
	Endpoint benchEndpointCmd `cmd:"" help:"Hammer one endpoint: refresh, userinfo, introspect, discovery or jwks."`
	Start    benchStartCmd    `cmd:"" help:"Time start-up (exec → /readyz 200) of latchkey servers it starts itself: first starts or restarts (bench_start.go)."`
}

// env carries what every command needs.
type env struct {
	cli    *cli
	out    io.Writer
	errOut io.Writer
	log    *slog.Logger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without signals and exit, so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c cli
	return command.Run(ctx, args, stdout, stderr, "latchkey-bench", "Load test and start-up timing for Latchkey servers, over loopback HTTP.", &c, func() (any, *slog.Logger) {
		e := &env{cli: &c, out: stdout, errOut: stderr, log: command.NewLogger(c.LogLevel, c.LogFormat, stderr)}
		return e, e.log
	})
}

// openDB opens and migrates the database of the server under test, as
// `latchkey` does.
func (e *env) openDB(ctx context.Context) (*models.DB, error) {
	return command.OpenDB(ctx, e.cli.Database, e.cli.DataDir, nil)
}

// printJSON writes v as one JSON object.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
