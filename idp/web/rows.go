package web

import (
	"context"
	"encoding/base64"
	"html/template"
	"log/slog"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
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

// PasskeyRow is a passkey as shown to admins and on the account page.
type PasskeyRow struct {
	models.Credential
	Provider, Icon, Kind, Created, LastUsed, IDb64 string
	// Policy status of the passkey (WithPolicy).
	PasskeyPolicy
}

// PasskeyPolicy is embedded in PasskeyRow: what the console and the
// account page show about a passkey's policy status.
type PasskeyPolicy struct {
	Policy passkeys.PolicyStatus
	// IconURL is the provider icon; passkeys.ProviderIcon returns only
	// data:image/ URIs, which the CSP allows (img-src data:).
	IconURL template.URL
}

// PasskeyRows are the rows of a user's passkeys, without policy status.
func PasskeyRows(cs []models.Credential) []PasskeyRow {
	out := make([]PasskeyRow, len(cs))
	for i, cr := range cs {
		kind := "device-bound"
		if cr.BackupEligible {
			kind = "synced"
		}
		provider := passkeys.ProviderName(cr.AAGUID)
		if provider == "" { // AAGUID not in the table (or all zeros)
			provider = "Unknown provider"
		}
		out[i] = PasskeyRow{Credential: cr, Provider: provider, Icon: passkeys.ProviderIcon(cr.AAGUID, false),
			Kind: kind, Created: FormatTime(cr.CreatedAt), LastUsed: FormatTimePtr(cr.LastUsedAt),
			IDb64: base64.RawURLEncoding.EncodeToString(cr.CredentialID)}
	}
	return out
}

// PolicyEvaluator evaluates passkeys against the passkey policy
// (passkeys.Service).
type PolicyEvaluator interface {
	EvaluateAll(ctx context.Context, userID string, creds []models.Credential) ([]passkeys.PolicyStatus, error)
}

// WithPolicy fills the policy status of a user's passkey rows. On error
// the rows are returned without it (the status is informative).
func WithPolicy(ctx context.Context, pk PolicyEvaluator, log *slog.Logger, userID string, rows []PasskeyRow) []PasskeyRow {
	creds := make([]models.Credential, len(rows))
	for i := range rows {
		creds[i] = rows[i].Credential
	}
	sts, err := pk.EvaluateAll(ctx, userID, creds)
	if err != nil {
		log.Error("evaluate passkey policy", "err", err)
		return rows
	}
	for i := range rows {
		rows[i].Policy = sts[i]
		rows[i].IconURL = template.URL(sts[i].ProviderIcon) // #nosec G203 -- data:image/ only
	}
	return rows
}

// AppRow is an application holding live tokens for a user.
type AppRow struct {
	models.ConnectedApp
	LastUsedText string
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

// FreshSignIn is how recent a session's passkey ceremony must be for
// actions a stolen session cookie must not be enough for: adding a
// passkey, approving a device.
const FreshSignIn = 5 * time.Minute
