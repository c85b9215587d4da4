package web

import (
	"context"
	"encoding/base64"
	"html/template"
	"log/slog"
	"time"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

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

// FreshSignIn is how recent a session's passkey ceremony must be for
// actions a stolen session cookie must not be enough for: adding a
// passkey, approving a device.
const FreshSignIn = 5 * time.Minute
