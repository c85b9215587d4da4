// Package i18n holds Latchkey's translations (issue 23): the message
// catalogues of every shipped language (locales/*.json, go-i18n's JSON
// format with CLDR plural forms), the choice of a language from
// ui_locales (OIDC Core §3.1.2.1) or Accept-Language (RFC 9110 §12.5.4)
// with golang.org/x/text's matcher, and Tr, the translator that pages and
// emails call. Every message ID that a template or Go code uses must be in
// every catalogue, and every catalogue entry must be used
// (TestCataloguesAreComplete).
package i18n

import (
	"embed"
	"fmt"
	"html/template"
	"regexp"
	"strings"
	"sync"
	"time"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.json
var files embed.FS

// Default is the language of last resort.
const Default = "en"

// Language is one shipped language.
type Language struct {
	Tag  string // BCP 47 base tag, the catalogue's file name
	Name string // the language's own name, for the switcher
}

// Languages are the shipped languages, the default first.
var Languages = []Language{{"en", "English"}, {"de", "Deutsch"}, {"fr", "Français"}}

var (
	tags    = []language.Tag{language.English, language.German, language.French}
	matcher = language.NewMatcher(tags)
)

// bundle loads every catalogue once; a broken file is a programming error
// caught by the tests, so it panics.
var bundle = sync.OnceValue(func() *goi18n.Bundle {
	b := goi18n.NewBundle(language.English)
	for _, l := range Languages {
		if _, err := b.LoadMessageFileFS(files, "locales/"+l.Tag+".json"); err != nil {
			panic(fmt.Sprintf("i18n catalogue %s: %v", l.Tag, err))
		}
	}
	return b
})

// Supported reports whether tag names a shipped language exactly ("de",
// not "de-CH": callers store the base tag Match returned).
func Supported(tag string) bool {
	for _, l := range Languages {
		if l.Tag == tag {
			return true
		}
	}
	return false
}

// match picks the shipped language closest to the wanted ones, in their
// order of preference; ok is false when none is close enough.
func match(want []language.Tag) (string, bool) {
	if len(want) == 0 {
		return "", false
	}
	_, i, conf := matcher.Match(want...)
	if conf == language.No {
		return "", false
	}
	return Languages[i].Tag, true
}

// MatchUILocales matches an OIDC ui_locales value: BCP 47 tags separated
// by spaces, most preferred first (OIDC Core §3.1.2.1). Tags that do not
// parse are ignored.
func MatchUILocales(s string) (string, bool) {
	var want []language.Tag
	for _, f := range strings.Fields(s) {
		if t, err := language.Parse(f); err == nil {
			want = append(want, t)
		}
	}
	return match(want)
}

// MatchAcceptLanguage matches an Accept-Language header (RFC 9110
// §12.5.4), weights included.
func MatchAcceptLanguage(h string) (string, bool) {
	want, _, err := language.ParseAcceptLanguage(h)
	if err != nil {
		return "", false
	}
	return match(want)
}

// Tr translates into one language. The zero and nil Tr translate into
// English.
type Tr struct {
	lang string
	loc  *goi18n.Localizer
}

var trs = sync.OnceValue(func() map[string]*Tr {
	m := map[string]*Tr{}
	for _, l := range Languages {
		m[l.Tag] = &Tr{lang: l.Tag, loc: goi18n.NewLocalizer(bundle(), l.Tag)}
	}
	return m
})

// For returns the translator of lang, English when lang is not shipped.
func For(lang string) *Tr {
	if t, ok := trs()[lang]; ok {
		return t
	}
	return trs()[Default]
}

// Lang is the translator's language tag, for <html lang> (WCAG 3.1.1).
func (t *Tr) Lang() string {
	if t == nil || t.lang == "" {
		return Default
	}
	return t.lang
}

func (t *Tr) localizer() *goi18n.Localizer {
	if t == nil || t.loc == nil {
		return For(Default).loc
	}
	return t.loc
}

// data turns key, value pairs into a template's data.
func data(kv []any, escape bool) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		v := kv[i+1]
		if escape {
			v = template.HTMLEscapeString(fmt.Sprint(v))
		}
		m[k] = v
	}
	return m
}

func (t *Tr) localize(id string, count any, kv []any, escape bool) string {
	cfg := &goi18n.LocalizeConfig{MessageID: id, TemplateData: data(kv, escape)}
	if count != nil {
		cfg.PluralCount = count
		cfg.TemplateData.(map[string]any)["Count"] = count
	}
	s, err := t.localizer().Localize(cfg)
	if s == "" && err != nil {
		// An unknown ID: visible on the page, and a failing test
		// (TestCataloguesAreComplete) long before.
		return "[" + id + "]"
	}
	return s
}

// S translates message id with key, value pairs for its {{.Key}} fields.
func (t *Tr) S(id string, kv ...any) string { return t.localize(id, nil, kv, false) }

// H is S for a message that contains HTML of ours (such as <strong>): the
// values are HTML-escaped before they go in, so only the catalogue's own
// markup is markup.
func (t *Tr) H(id string, kv ...any) template.HTML {
	return template.HTML(t.localize(id, nil, kv, true)) //nolint:gosec // G203: the catalogue is ours and every value is escaped
}

// N translates a message with plural forms for count n (CLDR rules of
// the language: French says "0 heure", English "0 hours"); the message
// reads n as {{.Count}}.
func (t *Tr) N(id string, n int, kv ...any) string { return t.localize(id, n, kv, false) }

// Key marks a message ID that Go code passes around before translating
// it, so the catalogue test finds it.
func Key(id string) string { return id }

// keyShape is what a message ID looks like: lower-case words joined by
// dots, never an English sentence.
var keyShape = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// Msg translates s when it is a message ID (Key) and returns any other
// text unchanged: errors and notices carry either an ID or, from code that
// is not translated (the console), English text.
func (t *Tr) Msg(s string) string {
	if keyShape.MatchString(s) {
		return t.S(s)
	}
	return s
}

// Duration says how long d is in words, rounded: whole hours from two
// hours up (or for an exact number of hours), else minutes, else seconds
// ("24 hours", "30 Minuten", "1 heure"), with the language's plural forms.
func (t *Tr) Duration(d time.Duration) string {
	switch {
	case d >= 2*time.Hour || (d >= time.Hour && d%time.Hour == 0):
		return t.N("duration.hours", int(d.Round(time.Hour)/time.Hour))
	case d >= time.Minute:
		return t.N("duration.minutes", int(d.Round(time.Minute)/time.Minute))
	}
	return t.N("duration.seconds", int(d.Round(time.Second)/time.Second))
}

// months are the message IDs of the month names, January first.
var months = [12]string{Key("month.1"), Key("month.2"), Key("month.3"), Key("month.4"), Key("month.5"), Key("month.6"),
	Key("month.7"), Key("month.8"), Key("month.9"), Key("month.10"), Key("month.11"), Key("month.12")}

// Date says when t was, in UTC, the way the language writes a date and
// time ("2 January 2026 at 15:04 UTC", "2. Januar 2026 um 15:04 UTC").
func (t *Tr) Date(when time.Time) string {
	u := when.UTC()
	return t.S("date.long", "Day", u.Day(), "Month", t.S(months[u.Month()-1]), "Year", u.Year(), "Time", u.Format("15:04"))
}
