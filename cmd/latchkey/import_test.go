package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/internal/flowclient"
)

// TestPostgres runs the import tests again on Postgres
// (LATCHKEY_TEST_POSTGRES): every database of theirs is then a schema.
func TestPostgres(t *testing.T) { dbtest.RerunOnPostgres(t, "^TestImport") }

// importEnv is a data directory and a database (SQLite, or a Postgres
// schema in the Postgres child) for the CLI.
type importEnv struct {
	t        *testing.T
	dir, dsn string
}

func newImportEnv(t *testing.T) *importEnv {
	return &importEnv{t: t, dir: t.TempDir(), dsn: dbtest.DSN(t)}
}

func (ie *importEnv) cli(args ...string) (int, string, string) {
	ie.t.Helper()
	return cliRun(ie.t, ie.dir, append(args, "--database", ie.dsn)...)
}

// file writes content to a file named name and returns its path.
func (ie *importEnv) file(name, content string) string {
	ie.t.Helper()
	p := filepath.Join(ie.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		ie.t.Fatal(err)
	}
	return p
}

// usernames lists every user's username in order.
func (ie *importEnv) usernames() []string {
	ie.t.Helper()
	code, out, errOut := ie.cli("users", "list", "--json", "--limit", "1000")
	if code != 0 {
		ie.t.Fatalf("users list: %s", errOut)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Username string   `json:"username"`
			Groups   []string `json:"groups"`
		}
		if line != "" && json.Unmarshal([]byte(line), &r) == nil {
			names = append(names, r.Username)
		}
	}
	return names
}

const knownFields = "(known: username, email, email_verified, name, groups, disabled)"

// Every bad input stops the import at its line with the reason; the
// batches before it (batch size 2: lines 1–2, or 2–3 after a CSV header)
// stay committed, nothing of its own batch is, and the message says how
// many lines were imported and how to resume.
func TestImportBadInput(t *testing.T) {
	jsonl := func(bad string) string {
		return "{\"username\":\"a1\"}\n{\"username\":\"a2\"}\n{\"username\":\"a3\"}\n" + bad + "\n{\"username\":\"a5\"}\n"
	}
	csvFile := func(bad string) string { return "username,disabled\na1,no\na2,0\na3,false\n" + bad + "\na5,\n" }
	resume := "; 2 lines before it were imported (committed: 2 created, 0 updated, 0 skipped), the rest of its batch was not: fix the line and resume with --on-conflict=skip"
	for _, tc := range []struct {
		name, file, content string
		want                string // the whole error line, after "latchkey: "
		committed           int    // users in the database afterwards
	}{
		{"bad JSON", "u.jsonl", jsonl(`{"username": "x"`), "line 4: bad JSON: unexpected end of JSON input" + resume, 2},
		{"not an object", "u.jsonl", jsonl(`["x"]`), "line 4: not a JSON object" + resume, 2},
		{"unknown field", "u.jsonl", jsonl(`{"username":"x","phone":"1","age":3}`), `line 4: unknown fields "age", "phone" ` + knownFields + resume, 2},
		{"missing username", "u.jsonl", jsonl(`{"email":"x@example.com"}`), "line 4: username is missing" + resume, 2},
		{"invalid username", "u.jsonl", jsonl(`{"username":"a b"}`), "line 4: username may contain only letters, digits and . _ - @" + resume, 2},
		{"invalid email", "u.jsonl", jsonl(`{"username":"x","email":"nope"}`), `line 4: email "nope" is not an address` + resume, 2},
		{"header injection in email", "u.jsonl", jsonl(`{"username":"x","email":"x@example.com\r\nBcc: y@example.com"}`), `line 4: email "x@example.com\r\nBcc: y@example.com" is not an address` + resume, 2},
		{"header injection in name", "u.jsonl", jsonl(`{"username":"x","name":"X\r\nBcc: y@example.com"}`), `line 4: the name contains control characters` + resume, 2},
		{"oversize name", "u.jsonl", jsonl(`{"username":"x","name":"` + strings.Repeat("n", 129) + `"}`), `line 4: the name is longer than 128 characters` + resume, 2},
		{"bad boolean", "u.jsonl", jsonl(`{"username":"x","disabled":"yes"}`), `line 4: disabled must be true or false, not "yes"` + resume, 2},
		{"bad groups", "u.jsonl", jsonl(`{"username":"x","groups":"staff"}`), `line 4: groups must be an array of strings, not "staff"` + resume, 2},
		{"duplicate in batch", "u.jsonl", jsonl(`{"username":"A3"}`), `line 4: username "a3" is also on line 3` + resume, 2},
		{"duplicate across batches", "u.jsonl", jsonl(`{"username":"a1"}`), `line 4: username "a1" is also on an earlier line` + resume, 2},
		{"conflict", "u.jsonl", jsonl(`{"username":"taken"}`), `line 4: username "taken" exists; 2 lines before it were imported (committed: 2 created, 0 updated, 0 skipped), the rest of its batch was not: resume with --on-conflict=skip, or --on-conflict=update to overwrite the existing users`, 2},
		{"conflict on the first line", "u.jsonl", `{"username":"taken"}`, `line 1: username "taken" exists; fix the line, or run the import again with --on-conflict=skip or --on-conflict=update`, 0},
		{"bad line in the first batch", "u.jsonl", "{\"username\":\"a1\"}\n{\"username\":\"\"}\n", "line 2: username is missing; nothing was imported: fix the line and run the import again", 0},
		{"empty JSON Lines", "u.jsonl", "\n\n", "the file holds no users; nothing was imported", 0},
		{"CSV bad boolean", "u.csv", csvFile("x,maybe"), `line 5: disabled must be true/false, 1/0 or yes/no, not "maybe"` + resume, 2},
		{"CSV wrong field count", "u.csv", csvFile("x,no,extra"), "line 5: bad CSV: wrong number of fields" + resume, 2},
		{"CSV bare quote", "u.csv", csvFile(`x"y,no`), `line 5: bad CSV: bare " in non-quoted-field` + resume, 2},
		{"CSV unknown column", "u.csv", "username,phone\nx,1\n", `line 1: unknown column "phone" ` + knownFields + "; nothing was imported: fix the line and run the import again", 0},
		{"CSV without username", "u.csv", "email\nx@example.com\n", "line 1: the header has no username column; nothing was imported: fix the line and run the import again", 0},
		{"CSV column twice", "u.csv", "username,email,Email\nx,a@b,a@b\n", `line 1: column "email" appears twice in the header; nothing was imported: fix the line and run the import again`, 0},
		{"CSV empty", "u.csv", "", "the file is empty: a CSV import starts with a header line naming the columns (username, email, email_verified, name, groups, disabled); nothing was imported", 0},
		{"CSV header only", "u.csv", "username,email\r\n", "the file holds no users; nothing was imported", 0},
		{"unknown extension", "u.txt", "{}", "cannot tell the format of FILE by its extension (.jsonl, .ndjson, .json or .csv): use --format jsonl or --format csv", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ie := newImportEnv(t)
			if code, _, errOut := ie.cli("users", "add", "--username", "taken"); code != 0 {
				t.Fatal(errOut)
			}
			path := ie.file(tc.file, tc.content)
			code, out, errOut := ie.cli("users", "import", path, "--batch-size", "2")
			want := "latchkey: " + strings.ReplaceAll(tc.want, "FILE", path) + "\n"
			if code != 1 || out != "" || errOut != want {
				t.Fatalf("exit %d, stdout %q, stderr\n%q\nwant\n%q", code, out, errOut, want)
			}
			names := ie.usernames()
			if len(names) != tc.committed+1 || (tc.committed == 2 && strings.Join(names, ",") != "a1,a2,taken") {
				t.Fatalf("users after the refused import: %v, want %d imported", names, tc.committed)
			}
		})
	}
}

// A fixed file resumes with --on-conflict=skip; CSV with a byte order
// mark and CRLF line ends, groups separated by |, booleans as words;
// update overwrites only the columns the file has; a dry run writes
// nothing but checks against the database.
func TestImportResumeCSVUpdateDryRun(t *testing.T) {
	ie := newImportEnv(t)
	bad := ie.file("u.jsonl", "{\"username\":\"a1\"}\n{\"username\":\"a2\"}\n{\"username\":\"a3\"}\n{\"username\":\"a 4\"}\n{\"username\":\"a5\"}\n")
	if code, _, _ := ie.cli("users", "import", bad, "--batch-size", "2"); code != 1 {
		t.Fatal("a bad line did not fail the import")
	}
	fixed := ie.file("u.jsonl", "{\"username\":\"a1\"}\n{\"username\":\"a2\"}\n{\"username\":\"a3\"}\n{\"username\":\"a4\"}\n{\"username\":\"a5\"}\n")
	code, out, errOut := ie.cli("users", "import", fixed, "--batch-size", "2", "--on-conflict=skip")
	if code != 0 || !strings.HasPrefix(out, "Imported 5 lines in ") || !strings.Contains(out, ": 3 created, 0 updated, 2 skipped.") {
		t.Fatalf("resume: %d %q %s", code, out, errOut)
	}

	csvPath := ie.file("people.csv", "\ufeffUsername,Email,Email_Verified,Name,Groups,Disabled\r\n"+
		"b1,b1@example.com,yes,\"Bee, One\",staff|ops ,0\r\n"+
		"b2,b2@example.com,FALSE,Bee Two,,1\r\n")
	code, out, errOut = ie.cli("users", "import", csvPath)
	if code != 0 || !strings.Contains(out, ": 2 created, 0 updated, 0 skipped.") {
		t.Fatalf("CSV: %d %q %s", code, out, errOut)
	}
	code, out, _ = ie.cli("users", "list", "--json", "--search", "b")
	if code != 0 || !strings.Contains(out, `"username":"b1","email":"b1@example.com","admin":false,"disabled":false,"groups":["`) ||
		!strings.Contains(out, `"username":"b2","email":"b2@example.com","admin":false,"disabled":true,"groups":[]`) {
		t.Fatalf("imported CSV users: %s", out)
	}

	upd := ie.file("upd.jsonl", "{\"username\":\"b1\",\"email\":\"new@example.com\",\"groups\":[]}\n{\"username\":\"c1\"}\n")
	before := ie.usernames()
	code, out, errOut = ie.cli("users", "import", upd, "--on-conflict=update", "--dry-run")
	if code != 0 || out != "Dry run: 2 lines are valid: 1 would be created, 1 updated, 0 skipped; nothing was written.\n" {
		t.Fatalf("dry run: %d %q %s", code, out, errOut)
	}
	if after := ie.usernames(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("dry run wrote: %v → %v", before, after)
	}
	code, _, errOut = ie.cli("users", "import", upd, "--dry-run")
	if want := "latchkey: line 1: username \"b1\" exists (dry run: nothing was written)\n"; code != 1 || errOut != want {
		t.Fatalf("dry run, fail mode: %d %q", code, errOut)
	}
	code, out, errOut = ie.cli("users", "import", upd, "--on-conflict=update")
	if code != 0 || !strings.Contains(out, ": 1 created, 1 updated, 0 skipped.") {
		t.Fatalf("update: %d %q %s", code, out, errOut)
	}
	code, out, _ = ie.cli("users", "list", "--json", "--search", "b1")
	if code != 0 || !strings.Contains(out, `"username":"b1","email":"new@example.com","admin":false,"disabled":false,"groups":[]`) {
		t.Fatalf("updated user: %s", out)
	}

	for _, args := range [][]string{{"--batch-size", "0"}, {"--batch-size", "10001"}} {
		if code, _, errOut := ie.cli(append([]string{"users", "import", upd}, args...)...); code == 0 || !strings.Contains(errOut, "--batch-size must be 1 to 10000") {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
	}
}

// - reads standard input, whose format must be named.
func TestImportStdin(t *testing.T) {
	ie := newImportEnv(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old; _ = r.Close() })
	go func() {
		_, _ = w.WriteString("{\"username\":\"s1\"}\r\n{\"username\":\"s2\",\"groups\":[\"x\"]}\r\n")
		_ = w.Close()
	}()
	if code, _, errOut := ie.cli("users", "import", "-"); code != 1 || !strings.Contains(errOut, "reading standard input needs --format jsonl or --format csv") {
		t.Fatalf("stdin without --format: %d %s", code, errOut)
	}
	code, out, errOut := ie.cli("users", "import", "-", "--format", "jsonl")
	if code != 0 || !strings.Contains(out, ": 2 created, 0 updated, 0 skipped.") {
		t.Fatalf("stdin: %d %q %s", code, out, errOut)
	}
}

// TestImport200kServeListSignIn imports 200,000 users, then starts the
// server on that database, lists a page of them by prefix, and signs one
// of them in: a setup link, a passkey registered through it by the
// software authenticator, and a full OIDC sign-in over HTTP.
func TestImport200kServeListSignIn(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("imports 200,000 users; skipped with -short")
	}
	const n = 200_000
	ie := newImportEnv(t)
	path := filepath.Join(t.TempDir(), "users.jsonl")
	f, err := os.Create(path) //nolint:gosec // G304: the test's own temporary file
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < n; i++ {
		groups := `["everyone"]`
		if i%10 == 0 {
			groups = `["everyone","tenth"]`
		}
		fmt.Fprintf(w, `{"username":"imp-%06d","email":"imp-%06d@example.com","email_verified":true,"name":"Imported %d","groups":%s}`+"\n", i, i, i, groups)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, out, errOut := ie.cli("users", "import", path)
	t.Logf("import of %d users on %s: %s", n, dbtest.Backend(), time.Since(start).Round(time.Millisecond))
	if code != 0 || !strings.Contains(out, fmt.Sprintf("Imported %d lines", n)) || !strings.Contains(out, fmt.Sprintf(": %d created, 0 updated, 0 skipped.", n)) {
		t.Fatalf("import: %d %q %s", code, out, errOut)
	}

	pub, internal := freeAddr(t), freeAddr(t)
	issuer := "http://localhost:" + portOf(pub)
	ctx, cancel := context.WithCancel(context.Background())
	var sout, serr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", ie.dir, "--database", ie.dsn, "--issuer", issuer,
			"--listen", pub, "--internal-listen", internal, "--log-format", "text", "--log-level", "warn"}, &sout, &serr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, serr.String())
		}
	}()
	start = time.Now()
	waitReady(t, "http://"+internal+"/readyz")
	t.Logf("server ready after %s", time.Since(start).Round(time.Millisecond))

	code, out, errOut = ie.cli("users", "list", "--limit", "50", "--search", "IMP-12345", "--json")
	var page []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Username string   `json:"username"`
			Groups   []string `json:"groups"`
			Passkeys int      `json:"passkeys"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || len(r.Groups) == 0 || r.Passkeys != 0 {
			t.Fatalf("users list line %q: %v", line, err)
		}
		page = append(page, r.Username)
	}
	if code != 0 || len(page) != 10 || page[0] != "imp-123450" || page[9] != "imp-123459" {
		t.Fatalf("users list --search: %d %v %s", code, page, errOut)
	}

	const who = "imp-123456"
	code, out, errOut = cliRun(t, ie.dir, "users", "setup-link", who, "--json", "--database", ie.dsn, "--issuer", issuer)
	var link struct {
		ID       string `json:"id"`
		SetupURL string `json:"setup_url"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &link) != nil || !strings.HasPrefix(link.SetupURL, issuer+"/setup/") {
		t.Fatalf("setup-link: %d %q %s", code, out, errOut)
	}
	code, out, errOut = ie.cli("clients", "add", "--name", "Import test", "--redirect-uri", "http://127.0.0.1:9/callback", "--first-party", "--json")
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &client) != nil {
		t.Fatalf("clients add: %d %q %s", code, out, errOut)
	}
	app := &flowclient.App{Issuer: issuer, ClientID: client.ClientID, ClientSecret: client.ClientSecret,
		RedirectURI: "http://127.0.0.1:9/callback", Transport: &http.Transport{}}
	t.Cleanup(app.Transport.CloseIdleConnections)
	user := flowclient.NewUser(app, nil)
	if err := user.Register(link.SetupURL); err != nil {
		t.Fatalf("register a passkey through the setup link: %v", err)
	}
	if err := user.Flow(); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	var claims struct {
		Sub      string `json:"sub"`
		Username string `json:"preferred_username"`
		Email    string `json:"email"`
	}
	if err := json.Unmarshal(user.Claims, &claims); err != nil || claims.Sub != link.ID || claims.Username != who || claims.Email != who+"@example.com" {
		t.Fatalf("userinfo of the imported user: %s (%v)", user.Claims, err)
	}
}
