package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// readmeCommand is one latchkey command line of README.md's code blocks.
type readmeCommand struct {
	line int    // 1-based line in README.md
	text string // after "latchkey", continuations joined, comment cut
}

// readmeCommands returns the command lines of README.md's fenced code
// blocks: those that start with `latchkey ` or `go run ./cmd/latchkey `.
func readmeCommands(t *testing.T, readme string) []readmeCommand {
	t.Helper()
	var out []readmeCommand
	inBlock := false
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			continue
		}
		var rest string
		switch {
		case strings.HasPrefix(l, "latchkey "):
			rest = strings.TrimPrefix(l, "latchkey ")
		case strings.HasPrefix(l, "go run ./cmd/latchkey "):
			rest = strings.TrimPrefix(l, "go run ./cmd/latchkey ")
		default:
			continue
		}
		start := i + 1
		rest = cutComment(rest)
		// A synopsis continues on indented lines that start with a flag or
		// an option group; a shell command continues after a backslash.
		for i+1 < len(lines) {
			next := strings.TrimSpace(lines[i+1])
			switch {
			case strings.HasSuffix(rest, `\`):
				rest = strings.TrimSuffix(rest, `\`) + " " + cutComment(next)
			case strings.HasPrefix(lines[i+1], " ") && (strings.HasPrefix(next, "[") || strings.HasPrefix(next, "--")):
				rest += " " + cutComment(next)
			default:
				goto done
			}
			i++
		}
	done:
		out = append(out, readmeCommand{line: start, text: strings.TrimSpace(rest)})
	}
	return out
}

// cutComment drops a shell comment (" # …") outside quotes.
func cutComment(s string) string {
	quote := rune(0)
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && i > 0 && s[i-1] == ' ':
			return strings.TrimSpace(s[:i])
		}
	}
	return strings.TrimSpace(s)
}

// shellWords splits s as a POSIX shell would split plain words and quoted
// strings (no expansions: README commands use none that matter here).
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	inWord, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// synopsis reports whether a command line is usage notation (optional
// parts, alternatives, placeholders) rather than a command to run.
func synopsis(s string) bool { return strings.ContainsAny(s, "[]|…") || strings.Contains(s, "...") }

var flagInSynopsis = regexp.MustCompile(`--(\[no-\])?([a-z][a-z0-9-]*)`)

// TestREADMECommandsParse: every latchkey command README.md shows exists
// as written. A command line parses with the real command-line grammar;
// a synopsis names a real command, and every flag it names is one of
// that command's (or a global one), negations included.
func TestREADMECommandsParse(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(t, string(raw))
	if len(cmds) < 30 {
		t.Fatalf("found only %d latchkey commands in README.md; the scan is broken", len(cmds))
	}
	newParser := func() *kong.Kong {
		var c cli
		p, err := kong.New(&c, kong.Name("latchkey"), kong.Configuration(kong.JSON), kong.Exit(func(int) {}))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	parsed, checked := 0, 0
	for _, c := range cmds {
		words := shellWords(c.text)
		if !synopsis(c.text) {
			// A file the reader has (a downloaded blob) need not exist here.
			if _, err := newParser().Parse(words); err != nil && !strings.Contains(err.Error(), "no such file or directory") {
				t.Errorf("README.md:%d: latchkey %s: %v", c.line, c.text, err)
			}
			parsed++
			continue
		}
		// The command is the leading words that name subcommands.
		node := newParser().Model.Node
		for _, w := range words {
			var next *kong.Node
			for _, ch := range node.Children {
				if ch.Name == w || slices.Contains(ch.Aliases, w) {
					next = ch
				}
			}
			if next == nil {
				break
			}
			node = next
		}
		if node.Parent == nil {
			t.Errorf("README.md:%d: latchkey %s: no such command", c.line, c.text)
			continue
		}
		names := map[string]bool{}
		for _, group := range node.AllFlags(false) {
			for _, f := range group {
				names[f.Name] = true
				for _, a := range f.Aliases {
					names[a] = true
				}
				switch neg := f.Tag.Negatable; neg {
				case "":
				case "_":
					names["no-"+f.Name] = true
				default:
					names[neg] = true
				}
			}
		}
		for _, m := range flagInSynopsis.FindAllStringSubmatch(c.text, -1) {
			name := m[2]
			if !names[name] || (m[1] != "" && !names["no-"+name]) {
				t.Errorf("README.md:%d: latchkey %s: %s has no flag --%s%s", c.line, c.text, node.Path(), m[1], name)
			}
		}
		checked++
	}
	t.Logf("%d README commands parsed, %d synopses checked", parsed, checked)
}

// headingAnchor is GitHub's anchor of a heading: lower case, spaces to
// hyphens, punctuation other than hyphens and underscores dropped.
func headingAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile("(?m)^#{1,6} (.+)$")
)

// TestREADMELinksResolve: every link of README.md (and of the docs it
// links to) that points inside the repository names a file that exists
// and, with a fragment, a heading of that file. Links to other sites are
// not fetched (the tests run offline) but must be https.
func TestREADMELinksResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	anchors := func(path string) map[string]bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		out := map[string]bool{}
		inBlock := false
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				inBlock = !inBlock
			}
			if m := mdHeading.FindStringSubmatch(l); m != nil && !inBlock {
				a := headingAnchor(strings.ReplaceAll(m[1], "`", ""))
				for n := 1; out[a]; n++ { // GitHub numbers repeated headings
					a = strings.TrimSuffix(a, "-"+strconv.Itoa(n-1)) + "-" + strconv.Itoa(n)
				}
				out[a] = true
			}
		}
		return out
	}
	files := []string{"README.md", "docs/ARCHITECTURE.md", "docs/performance.md"}
	links := 0
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		// Code spans and blocks are not links.
		text := regexp.MustCompile("(?s)```.*?```").ReplaceAllString(string(b), "")
		text = regexp.MustCompile("`[^`\n]*`").ReplaceAllString(text, "")
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			links++
			switch {
			case strings.HasPrefix(target, "https://"), strings.HasPrefix(target, "mailto:"):
				continue
			case strings.HasPrefix(target, "http://"):
				if !strings.HasPrefix(target, "http://localhost") && !strings.HasPrefix(target, "http://127.0.0.1") {
					t.Errorf("%s: link %s is not https", f, target)
				}
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			file := filepath.Join(root, f)
			if path != "" {
				file = filepath.Join(root, filepath.Dir(f), path)
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s: link %s: no file %s", f, target, path)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(file, ".md") && !anchors(file)[frag] {
				t.Errorf("%s: link %s: no heading #%s in %s", f, target, frag, filepath.Base(file))
			}
		}
	}
	if links < 10 {
		t.Fatalf("found only %d links; the scan is broken", links)
	}
}

// TestComposeMasterKeyStaysOutOfGitAndImages: the README has the operator
// create the compose secret (docker-compose.yml's master_key) as a file
// next to docker-compose.yml, inside the clone. It must be ignored by git
// (else `git add -A` commits the key that opens every sealed value) and by
// the Docker build context (else `COPY . .` puts it in a build layer).
func TestComposeMasterKeyStaysOutOfGitAndImages(t *testing.T) {
	root := filepath.Join("..", "..")
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  master_key:\n(?:    #.*\n)*    file: \./(\S+)$`).FindSubmatch(compose)
	if m == nil {
		t.Fatal("docker-compose.yml has no master_key secret file")
	}
	keyFile := string(m[1])
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "> "+keyFile+"\n") {
		t.Errorf("README does not say how to create %s", keyFile)
	}
	// Compose bind-mounts a file secret with its host owner and mode, so
	// the README has it owned by the image's user (Dockerfile USER).
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	user := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindSubmatch(dockerfile)
	if user == nil {
		t.Fatal("the Dockerfile names no numeric USER")
	}
	if chown := "chown " + string(user[1]) + ":" + string(user[2]) + " " + keyFile; !strings.Contains(string(readme), chown) {
		t.Errorf("README does not have the key file owned by the image's user (%q)", chown)
	}
	for _, ignore := range []string{".gitignore", ".dockerignore"} {
		b, err := os.ReadFile(filepath.Join(root, ignore))
		if err != nil {
			t.Fatal(err)
		}
		ignored := false
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "!") {
				continue
			}
			if ok, _ := filepath.Match(strings.TrimPrefix(strings.TrimPrefix(l, "/"), "**/"), keyFile); ok {
				ignored = true
			}
		}
		if !ignored {
			t.Errorf("%s does not ignore %s, the master key the README has operators put next to docker-compose.yml", ignore, keyFile)
		}
	}
}
