package web

import (
	"html/template"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// funcs are the template helpers of every page.
var funcs = template.FuncMap{
	"time":  FormatTime,
	"timep": FormatTimePtr,
	"join":  strings.Join,
	// kind names a passkey's kind (PasskeyRows) in the page's language.
	"kind": func(t *i18n.Tr, kind string) string {
		if kind == "synced" {
			return t.S("passkey.synced")
		}
		return t.S("passkey.device_bound")
	},
	// never translates FormatTimePtr's "never".
	"never": func(t *i18n.Tr, s string) string {
		if s == "never" {
			return t.S("common.never")
		}
		return s
	},
	// policyProblem says why a passkey does not meet its owner's policy,
	// in the page's language.
	"policyProblem": func(t *i18n.Tr, st passkeys.PolicyStatus) string {
		return PolicyProblem(t, st.Reason, st.ProblemArgs, st.Problem)
	},
	// date says a time the page's language's way.
	"date": func(t *i18n.Tr, when *time.Time) string {
		if when == nil {
			return t.S("common.never")
		}
		return t.Date(*when)
	},
	"has": func(list []string, v string) bool {
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	},
}

// FormatTime shows a time in UTC to the minute, or "—" for none.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// FormatTimePtr is FormatTime, or "never" for nil.
func FormatTimePtr(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return FormatTime(*t)
}

// HumanUntil says roughly how far away an expiry d from now is.
func HumanUntil(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "in less than a minute"
	case d < 2*time.Hour:
		return "in " + d.Round(time.Minute).String()
	default:
		return "in about " + d.Round(time.Hour).String()
	}
}
