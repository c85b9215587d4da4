package web

import (
	"html/template"
	"strings"
	"time"
)

// funcs are the template helpers of every page.
var funcs = template.FuncMap{
	"time":  FormatTime,
	"timep": FormatTimePtr,
	"join":  strings.Join,
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
