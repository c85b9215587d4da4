// Command latchkey runs the Latchkey passkey-only OpenID Connect provider
// and manages its data: users, setup links, clients, keys and migrations.
// Every flag has a LATCHKEY_* environment twin; a JSON config file can set
// them too (--config). The CLI works on the same data directory or DSN as a
// running server.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/internal/outbound"
	"github.com/latchkey-idp/latchkey/models"
)

var version = "dev"

// cli is the whole command line: global flags first, then subcommands.
type cli struct {
	Config       kong.ConfigFlag `help:"JSON file with flag values (keys are flag names)." env:"LATCHKEY_CONFIG" placeholder:"FILE"`
	DataDir      string          `help:"Directory for the SQLite database (the master key stays elsewhere)." default:"data" env:"LATCHKEY_DATA_DIR" placeholder:"DIR"`
	Database     string          `help:"Database DSN: empty for SQLite in the data dir, a SQLite file path, or postgres://…" env:"LATCHKEY_DATABASE" placeholder:"DSN"`
	Issuer       string          `help:"Public base URL; its host is the WebAuthn RP ID. Default: the issuer serve last ran with (recorded in the database), else http://localhost:8080." env:"LATCHKEY_ISSUER" placeholder:"URL"`
	MasterKey    string          `help:"Base64 32-byte master key (prefer --master-key-file)." env:"LATCHKEY_MASTER_KEY" placeholder:"KEY"`
	MasterKeyFil string          `name:"master-key-file" help:"File holding the base64 master key; created on a first start. Default: $XDG_CONFIG_HOME/latchkey/master.key (~/.config/latchkey/master.key), never the data directory." env:"LATCHKEY_MASTER_KEY_FILE" placeholder:"FILE"`
	SetupLinkTTL time.Duration   `name:"setup-link-ttl" help:"Lifetime of one-time setup links." default:"24h" env:"LATCHKEY_SETUP_LINK_TTL"`
	// OutboundAllow is global so that `clients add` checks a URL as serve
	// will deliver to it; `serve --outbound-allow` works too.
	OutboundAllow []string `name:"outbound-allow" help:"Private range (CIDR) that outbound requests such as back-channel logout may reach (repeatable); loopback and link-local never can." env:"LATCHKEY_OUTBOUND_ALLOW" sep:"," placeholder:"CIDR"`
	LogLevel      string   `help:"debug, info, warn or error." default:"info" enum:"debug,info,warn,error" env:"LATCHKEY_LOG_LEVEL"`
	LogFormat     string   `help:"json or text." default:"json" enum:"json,text" env:"LATCHKEY_LOG_FORMAT"`

	Serve        serveCmd        `cmd:"" help:"Run the server."`
	Users        usersCmd        `cmd:"" help:"Manage users."`
	Groups       groupsCmd       `cmd:"" help:"Manage groups (groups.go)."`
	SignupLinks  signupLinksCmd  `cmd:"" name:"signup-links" help:"Manage sign-up links for serve --signup=invite (signuplinks.go)."`
	Clients      clientsCmd      `cmd:"" help:"Manage OIDC clients (applications)."`
	Keys         keysCmd         `cmd:"" help:"Manage signing keys."`
	Migrate      migrateCmd      `cmd:"" help:"Apply database migrations and exit."`
	Version      versionCmd      `cmd:"" help:"Print the version."`
	MDS          mdsCmd          `cmd:"" name:"mds" help:"Import FIDO authenticator metadata (MDS3) offline."`
	Policy       policyCmd       `cmd:"" help:"Manage group passkey policies."`
	MasterKeyCmd masterKeyCmd    `cmd:"" name:"master-key" help:"Show, move or rotate the master key that seals signing keys and secrets."`
	Backup       backupCmd       `cmd:"" help:"Write a consistent snapshot of a running SQLite installation to FILE (without the master key)."`
	Restore      restoreCmd      `cmd:"" help:"Restore a backup into an empty data directory."`
	Purge        purgeCmd        `cmd:"" help:"Delete expired, used and revoked rows and old audit events now (the server does it every minute)."`
	SCIM         scimCmd         `cmd:"" name:"scim" help:"Manage SCIM provisioning tokens (scim.go)."`
	Registration registrationCmd `cmd:"" help:"Manage initial access tokens for dynamic client registration (registration.go)."`
	APIToken     apiTokenCmd     `cmd:"" name:"api-token" help:"Create admin API tokens (apitoken.go)."`
}

// env carries what every command needs.
type env struct {
	cli    *cli
	out    io.Writer
	errOut io.Writer
	// term is the operator's terminal, where a secret meant for a person
	// (the first admin's setup link) may be shown; nil when there is none.
	// The structured log goes to errOut, which is often collected (docker
	// logs, journald), so such secrets never go there.
	term io.Writer
	in   io.Reader // standard input (users import -)
	log  *slog.Logger
}

func main() {
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// GC defaults for a server whose live heap is small (10–30 MB) and whose
// allocation is per request: at Go's default GOGC=100 the collector ran
// every few milliseconds under load and took ~8% of the CPU of a refresh.
// GOGC=400 with a 256 MiB soft limit (the collector works harder as the
// heap nears it) measured 1.64 → 1.23 ms CPU per refresh, at the cost of a
// peak RSS of ~130 MB instead of ~55 MB (docs/performance.md). Idle memory
// is unchanged. GOGC and GOMEMLIMIT in the environment win.
const (
	defaultGOGC     = 400
	defaultMemLimit = 256 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemLimit)
	}
}

// run is main without signals and exit, so tests can start and stop it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	term, closeTerm := terminal(stderr)
	defer closeTerm()
	return runTerm(ctx, args, stdout, stderr, term)
}

// runTerm is run with the terminal given (tests; nil: none).
func runTerm(ctx context.Context, args []string, stdout, stderr, term io.Writer) int {
	var c cli
	return command.Run(ctx, args, stdout, stderr, "latchkey", "Latchkey: a passkey-only OpenID Connect provider.", &c, func() (any, *slog.Logger) {
		e := &env{cli: &c, out: stdout, errOut: stderr, term: term, in: os.Stdin, log: command.NewLogger(c.LogLevel, c.LogFormat, stderr)}
		return e, e.log
	})
}

// terminal returns the operator's terminal: stderr when it is one, else
// the process's controlling terminal (/dev/tty: `serve 2>>file` in a
// shell), else nil (a service manager, a container without a TTY).
func terminal(stderr io.Writer) (io.Writer, func()) {
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return f, func() {}
		}
	} else {
		return nil, func() {} // a writer of the caller's (tests)
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return nil, func() {}
	}
	return tty, func() { _ = tty.Close() }
}

// openDB opens and migrates the configured database.
func (e *env) openDB(ctx context.Context) (*models.DB, error) {
	return command.OpenDB(ctx, e.cli.Database, e.cli.DataDir, nil)
}

// openDBWith is openDB that calls onFresh before migrating a database
// that has never been migrated.
func (e *env) openDBWith(ctx context.Context, onFresh func(*models.DB)) (*models.DB, error) {
	return command.OpenDB(ctx, e.cli.Database, e.cli.DataDir, onFresh)
}

// defaultIssuer is the issuer of an installation that was never served
// and is given none.
const defaultIssuer = "http://localhost:8080"

// issuer is the issuer the commands print URLs on: --issuer, else the one
// `serve` recorded in the database (models.SettingIssuer), else
// defaultIssuer. Setup links printed by the CLI must name the host the
// server runs on: a passkey made on another host is bound to another RP ID.
func (e *env) issuer(ctx context.Context, db *models.DB) (string, error) {
	if e.cli.Issuer != "" {
		return e.cli.Issuer, nil
	}
	recorded, err := db.RecordedIssuer(ctx)
	if err != nil || recorded != "" {
		return recorded, err
	}
	return defaultIssuer, nil
}

// outboundPolicy is where back-channel logout may post: the issuer and
// --outbound-allow decide (internal/outbound).
func (e *env) outboundPolicy(issuer string) (outbound.Policy, error) {
	allow, err := outbound.ParseAllow(e.cli.OutboundAllow)
	if err != nil {
		return outbound.Policy{}, err
	}
	return outbound.NewPolicy(issuer, allow), nil
}

// printJSON writes v as one JSON object.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type migrateCmd struct {
	JSON bool `name:"json" help:"Print one JSON object."`
}

func (m *migrateCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	if m.JSON {
		return e.printJSON(map[string]any{"migrated": true})
	}
	fmt.Fprintln(e.out, "database is up to date")
	return nil
}

type versionCmd struct {
	JSON bool `name:"json" help:"Print one JSON object."`
}

func (v *versionCmd) Run(e *env) error {
	ver := version
	if bi, ok := debug.ReadBuildInfo(); ok && ver == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		ver = bi.Main.Version
	}
	if v.JSON {
		return e.printJSON(map[string]any{"version": ver})
	}
	fmt.Fprintln(e.out, "latchkey", ver)
	return nil
}
