package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0). Ending a
// session (models.EndSession, EndUserSessions, SetUserDisabled,
// DeleteCredential, DeleteUser) writes one outbox row per client the
// session signed in to that has a backchannel_logout_uri, in the same
// transaction. DeliverBackchannelLogouts, run periodically on every
// instance, claims due rows with a lease, POSTs a signed logout token and
// records the outcome in the row and the audit log; failures are retried
// with backoff (backchannelRetries) and then abandoned.

// EventBackchannelLogout is the audit event of a delivery attempt.
const EventBackchannelLogout = "backchannel_logout"

// backchannelRetries are the delays before the 2nd, 3rd, … attempt; after
// the last one the logout is abandoned (and audited as failed).
var backchannelRetries = []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}

// logoutTokenTTL bounds how long a logout token is valid (§2.4 asks for a
// short lifetime; receivers reject replays by jti within it).
const logoutTokenTTL = 2 * time.Minute

// DeliveryFailed is the only reason an admin sees for a failed delivery
// (audit event, outbox row). The console and API are open to admins of
// every role, and a registered URL is a probe: "connection refused",
// "timeout", "refused by policy" (a name that resolves to a private
// address) or the receiver's status would tell them which hosts and ports
// answer from where the server stands. The cause is logged at debug level
// on the server only.
const DeliveryFailed = "delivery failed"

// DeliverBackchannelLogouts sends the logout tokens that are due and
// returns how many were delivered. It is safe to run on several instances
// at once: each row is leased to one of them.
func (p *Provider) DeliverBackchannelLogouts(ctx context.Context) (int, error) {
	due, err := p.db.ClaimBackchannelLogouts(ctx, 50, time.Minute)
	if err != nil {
		return 0, fmt.Errorf("claim back-channel logouts: %w", err)
	}
	delivered := 0
	for _, bl := range due {
		if p.deliverOne(ctx, &bl) {
			delivered++
		}
	}
	return delivered, nil
}

func (p *Provider) deliverOne(ctx context.Context, bl *models.BackchannelLogout) bool {
	s := p.storage
	// The attempt is recorded at its start, so that the audit event's time
	// does not tell a timeout (seconds) from a refused connection.
	started := s.now()
	c, err := s.db.ClientByID(ctx, bl.ClientID)
	sendErr := err
	switch {
	case err != nil:
	case c.BackchannelLogoutURI == "":
		sendErr = errors.New("the client no longer has a back-channel logout URI")
	default:
		sendErr = s.sendLogoutToken(ctx, c, bl)
	}
	var retryAt time.Time
	errMsg := ""
	if sendErr != nil {
		errMsg = DeliveryFailed
		slog.DebugContext(ctx, "back-channel logout not delivered", "id", bl.ID, "client_id", bl.ClientID,
			"attempt", bl.Attempts, "error", sendErr)
		if n := int(bl.Attempts); n <= len(backchannelRetries) && c != nil && c.BackchannelLogoutURI != "" {
			retryAt = started.Add(backchannelRetries[n-1])
		}
	}
	if err := s.db.FinishBackchannelLogout(ctx, bl.ID, errMsg, retryAt); err != nil {
		logError(ctx, "record back-channel logout", err, "id", bl.ID)
	}
	detail := models.JSONMap{"session_id": bl.SessionID, "attempt": bl.Attempts}
	if sendErr != nil {
		detail["error"] = errMsg
		detail["will_retry"] = !retryAt.IsZero()
	}
	s.audit(ctx, &models.AuditEvent{CreatedAt: started, Type: EventBackchannelLogout, Success: sendErr == nil, UserID: bl.Subject,
		ClientID: bl.ClientID, Detail: detail})
	return sendErr == nil
}

// sendLogoutToken POSTs a logout token (§2.4: iss, aud, iat, exp, jti,
// sid, sub, events; never a nonce; typ "logout+jwt" per §2.4 and RFC 8725
// §3.11) through the outbound client, which checks the URL and the
// address it dials (internal/outbound). Any answer but 2xx is a failure
// (§2.8); redirects are not followed.
func (s *Storage) sendLogoutToken(ctx context.Context, c *models.Client, bl *models.BackchannelLogout) error {
	now := s.now()
	claims := oidc.NewLogoutTokenClaims(s.cfg.Issuer, bl.Subject, oidc.Audience{c.ID}, now.Add(logoutTokenTTL),
		models.NewUUID(), bl.SessionID, 0)
	claims.IssuedAt = oidc.FromTime(now)
	raw, err := s.signJWT(ctx, jose.SignatureAlgorithm(c.IDTokenAlg), "logout+jwt", claims)
	if err != nil {
		return fmt.Errorf("sign logout token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {raw}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.outbound.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// ValidIDTokenHint reports whether raw is an ID token this provider
// signed (expired ones count: RP-Initiated Logout §2 allows them). The
// end_session endpoint asks the user to confirm when there is none.
func (p *Provider) ValidIDTokenHint(ctx context.Context, raw string) bool {
	if raw == "" {
		return false
	}
	ctx = op.ContextWithIssuer(ctx, p.cfg.Issuer)
	_, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, raw, p.op.IDTokenHintVerifier(ctx))
	return err == nil || errors.Is(err, oidc.ErrExpired)
}

// PostLogoutRedirect returns uri when it is registered as a post-logout
// redirect URI of clientID (RP-Initiated Logout §3), by the rule op applies
// with an id_token_hint (verbatim; a native client's loopback URI on any
// port, RFC 8252 §7.3), else "".
func (p *Provider) PostLogoutRedirect(ctx context.Context, clientID, uri string) string {
	if clientID == "" || uri == "" {
		return ""
	}
	c, err := p.db.ClientByID(ctx, clientID)
	if err != nil || op.ValidateEndSessionPostLogoutRedirectURI(uri, &clientAdapter{m: c, cfg: &p.storage.cfg}) != nil {
		return ""
	}
	return uri
}
