package idp

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// A code bound to a DPoP key (dpop_jkt, RFC 9449 §10) that someone
// redeems without a proof or with another key's proof is refused with
// invalid_grant and not spent: its owner still redeems it, once.
func TestDPoPBoundCodeIsNotSpentByAnotherKey(t *testing.T) {
	app, b, user, r, client := enrolled(t)
	secret := r.oauth.ClientSecret
	key, thief := newDPoPKey(t), newDPoPKey(t)
	tokenURL := app.issuer + "/oauth/token"

	f := newFlow()
	params := r.authParams(f)
	params.Set("dpop_jkt", key.jkt)
	cb := b.signIn(app.issuer + "/authorize?" + params.Encode())
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {r.oauth.RedirectURL},
		"client_id": {client.ID}, "client_secret": {secret}, "code_verifier": {f.verifier}}
	for name, h := range map[string]map[string]string{
		"without a proof":          nil,
		"with another key's proof": {"DPoP": thief.proof(http.MethodPost, tokenURL, proofOpts{})},
	} {
		if tok := app.send(http.MethodPost, "/oauth/token", form, h); tok.status != http.StatusBadRequest || tok.str("error") != "invalid_grant" {
			t.Fatalf("bound code %s: %d %v, want invalid_grant", name, tok.status, tok.body)
		}
	}
	var reuse int64
	app.db.Gorm().Model(&models.AuditEvent{}).Where("type = ?", models.EventCodeReuse).Count(&reuse)
	if reuse != 0 {
		t.Fatal("a refused redemption counted as a code reuse")
	}
	tok := app.send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, tokenURL, proofOpts{})})
	if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" {
		t.Fatalf("the owner's redemption after refused ones: %d %v", tok.status, tok.body)
	}
	idt, err := r.verifier.Verify(context.Background(), tok.str("id_token"))
	if err != nil || idt.Subject != user.ID {
		t.Fatalf("ID token (go-oidc): %v %v", idt, err)
	}
	// Still single use: the owner's second redemption is a reuse.
	if again := app.send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, tokenURL, proofOpts{})}); again.str("error") != "invalid_grant" {
		t.Fatalf("second redemption: %d %v", again.status, again.body)
	}
}
