package i18n

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Where message IDs are used: templates call .T.S, .T.H or .T.N with a
// literal ID; Go code calls S, H, N or Key with one.
var (
	templateUse = regexp.MustCompile(`\.T\.(?:S|H|N)\s+"([^"]+)"`)
	goUse       = regexp.MustCompile(`(?:\.(?:S|H|N)|\bKey)\(\s*"([^"]+)"`)
	fieldUse    = regexp.MustCompile(`\{\{\s*(?:if\s+)?\.(\w+)`)
)

// usedIDs walks the module's templates and non-test Go files for every
// message ID they use, with the files that use each.
func usedIDs(t *testing.T) map[string][]string {
	t.Helper()
	root := os.DirFS(filepath.Join("..", ".."))
	used := map[string][]string{}
	err := fs.WalkDir(root, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		var re *regexp.Regexp
		switch {
		case strings.HasSuffix(path, "_test.go"):
			return nil
		case strings.HasSuffix(path, ".go"):
			re = goUse
		case strings.HasPrefix(path, "templates/") && (strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".txt")):
			re = templateUse
		default:
			return nil
		}
		b, err := fs.ReadFile(root, path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = append(used[m[1]], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 100 {
		t.Fatalf("found only %d message IDs in use; the walk is broken", len(used))
	}
	return used
}

// catalogue reads one shipped catalogue: ID → text, or plural form → text.
func catalogue(t *testing.T, lang string) map[string]any {
	t.Helper()
	b, err := files.ReadFile("locales/" + lang + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s.json: %v", lang, err)
	}
	return m
}

// fields lists the {{.Field}} names a message uses, over all its forms.
func fields(v any) []string {
	var texts []string
	switch x := v.(type) {
	case string:
		texts = []string{x}
	case map[string]any:
		for _, f := range x {
			s, _ := f.(string)
			texts = append(texts, s)
		}
	}
	set := map[string]bool{}
	for _, s := range texts {
		for _, m := range fieldUse.FindAllStringSubmatch(s, -1) {
			set[m[1]] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// TestCataloguesAreComplete fails when a message ID used by a template or
// by code lacks a translation in any shipped language, when a catalogue
// holds an ID nothing uses, or when a translation drops or invents a
// {{.Field}} of the English message.
func TestCataloguesAreComplete(t *testing.T) {
	used := usedIDs(t)
	en := catalogue(t, Default)
	for _, l := range Languages {
		cat := catalogue(t, l.Tag)
		for id, where := range used {
			v, ok := cat[id]
			if !ok {
				t.Errorf("%s: no translation of %q (used in %s)", l.Tag, id, where[0])
				continue
			}
			if s, isText := v.(string); isText && strings.TrimSpace(s) == "" {
				t.Errorf("%s: %q is empty", l.Tag, id)
			}
		}
		for id, v := range cat {
			if _, ok := used[id]; !ok {
				t.Errorf("%s: %q is in the catalogue but nothing uses it", l.Tag, id)
			}
			if e, ok := en[id]; ok && strings.Join(fields(v), ",") != strings.Join(fields(e), ",") {
				t.Errorf("%s: %q uses the fields %v, English %v", l.Tag, id, fields(v), fields(e))
			}
			if forms, plural := v.(map[string]any); plural {
				for _, need := range []string{"one", "other"} {
					if s, _ := forms[need].(string); s == "" {
						t.Errorf("%s: %q lacks the plural form %q", l.Tag, id, need)
					}
				}
			}
		}
	}
}

// TestEveryMessageRenders: every ID renders in every language (the
// go-i18n template parses; no "[id]" fallback).
func TestEveryMessageRenders(t *testing.T) {
	en := catalogue(t, Default)
	for id := range en {
		// Every field the message uses gets a value; the date's numbers
		// are numbers.
		kv := []any{"Day", 1, "Year", 2026}
		for _, f := range fields(en[id]) {
			if f != "Day" && f != "Year" {
				kv = append(kv, f, "x")
			}
		}
		for _, l := range Languages {
			var got string
			if _, plural := catalogue(t, l.Tag)[id].(map[string]any); plural {
				got = For(l.Tag).N(id, 2, kv...)
			} else {
				got = For(l.Tag).S(id, kv...)
			}
			if got == "" || strings.HasPrefix(got, "[") || strings.Contains(got, "<no value>") {
				t.Errorf("%s %q renders as %q", l.Tag, id, got)
			}
		}
	}
}

func TestChoosingALanguage(t *testing.T) {
	for _, c := range []struct {
		accept, want string
		ok           bool
	}{
		{"de-CH,de;q=0.9,en;q=0.5", "de", true},
		{"fr-CA", "fr", true},
		{"es, fr;q=0.3", "fr", true},
		{"en-GB,en;q=0.9", "en", true},
		{"es", "", false},
		{"", "", false},
		{";;;garbage", "", false},
	} {
		if got, ok := MatchAcceptLanguage(c.accept); got != c.want || ok != c.ok {
			t.Errorf("Accept-Language %q = %q %v, want %q %v", c.accept, got, ok, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		ui, want string
		ok       bool
	}{
		{"fr-CA de", "fr", true},
		{"es de", "de", true},
		{"xx-!! fr", "fr", true},
		{"es", "", false},
	} {
		if got, ok := MatchUILocales(c.ui); got != c.want || ok != c.ok {
			t.Errorf("ui_locales %q = %q %v, want %q %v", c.ui, got, ok, c.want, c.ok)
		}
	}
	if For("xx").Lang() != "en" || For("de").Lang() != "de" || (*Tr)(nil).Lang() != "en" || !Supported("fr") || Supported("fr-CA") {
		t.Fatal("For/Supported do not fall back to English")
	}
}

// TestPluralsAndDates: counts use each language's CLDR plural rules
// (French "1 heure", "2 heures"); dates name the month in the language.
func TestPluralsAndDates(t *testing.T) {
	for _, c := range []struct {
		lang string
		d    time.Duration
		want string
	}{
		{"en", time.Hour, "1 hour"}, {"en", 24 * time.Hour, "24 hours"}, {"en", 30 * time.Minute, "30 minutes"},
		{"de", time.Hour, "1 Stunde"}, {"de", 90 * time.Minute, "90 Minuten"}, {"de", time.Second, "1 Sekunde"},
		{"fr", time.Hour, "1 heure"}, {"fr", 3 * time.Hour, "3 heures"}, {"fr", time.Minute, "1 minute"},
	} {
		if got := For(c.lang).Duration(c.d); got != c.want {
			t.Errorf("%s %v = %q, want %q", c.lang, c.d, got, c.want)
		}
	}
	when := time.Date(2026, time.March, 5, 14, 7, 0, 0, time.UTC)
	for lang, want := range map[string]string{"en": "5 March 2026 at 14:07 UTC", "de": "5. März 2026 um 14:07 UTC", "fr": "5 mars 2026 à 14:07 UTC"} {
		if got := For(lang).Date(when); got != want {
			t.Errorf("%s date = %q, want %q", lang, got, want)
		}
	}
	if got := For("de").H("account.signed_in_as", "User", "<b>x</b>", "Email", ""); got != "Angemeldet als <strong id=\"account-user\">&lt;b&gt;x&lt;/b&gt;</strong>." {
		t.Errorf("H does not escape its values: %q", got)
	}
	if For("fr").Msg("Plain English text.") != "Plain English text." || For("de").Msg("login.title") != "Anmelden" {
		t.Error("Msg translates IDs only")
	}
}
