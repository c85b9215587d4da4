package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// Device authorization grant (RFC 8628). op serves /device_authorization
// and the device_code token grant through DeviceAuthorizationStorage; the
// user approves at idp's /device page (DevicePath) with a passkey.
//
// User codes are 8 letters from a 20-consonant alphabet (about 34 bits,
// RFC 8628 §6.1), shown as XXXX-XXXX; they expire with the device code
// (Config.DeviceCodeTTL), the /device page that takes them is rate
// limited, and approving needs a fresh passkey ceremony. Only the hash of
// the device code is stored. Polling faster than the interval gives
// slow_down; an approved code is redeemed once.

var _ op.DeviceAuthorizationStorage = (*Storage)(nil)

// DevicePath is the user-code page on the public listener.
const DevicePath = "/device"

// deviceConfig is op's device configuration from ours.
func deviceConfig(cfg Config) op.DeviceAuthorizationConfig {
	return op.DeviceAuthorizationConfig{Lifetime: cfg.DeviceCodeTTL, PollInterval: cfg.DevicePollInterval,
		UserFormPath: DevicePath, UserCode: op.UserCodeBase20}
}

// StoreDeviceAuthorization records a new grant. Scopes the client may not
// ask for are dropped. Errors: op.ErrDuplicateUserCode (op retries).
func (s *Storage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	c, err := s.loadClient(ctx, clientID)
	if err != nil {
		return err
	}
	ca := &clientAdapter{m: c, cfg: &s.cfg}
	scopes = slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return !ca.IsScopeAllowed(sc) })
	d := &models.DeviceAuthorization{
		DeviceCodeHash: models.HashToken(deviceCode), UserCode: userCode, ClientID: c.ID,
		Scopes: models.StringList(scopes), ExpiresAt: s.now().Add(time.Until(expires)),
	}
	if d.Scopes == nil {
		d.Scopes = models.StringList{}
	}
	if err := s.db.CreateDeviceAuthorization(ctx, d); err != nil {
		if errors.Is(err, models.ErrDuplicateUserCode) {
			return op.ErrDuplicateUserCode
		}
		return err
	}
	return nil
}

// GetDeviceAuthorizatonState answers a poll (op.DeviceAuthorizationStorage;
// Latchkey's token endpoint calls deviceState, server.go). op turns an
// error wrapping context.DeadlineExceeded into slow_down and any other
// error into access_denied; Expires is expressed in real time because op
// compares it with time.Now.
func (s *Storage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	st, _, err := s.deviceState(ctx, clientID, deviceCode, nil)
	return st, err
}

// deviceState is GetDeviceAuthorizatonState that also returns the grant
// (nil when it has expired unapproved); jkt, when not nil, is the DPoP
// key of the poll, checked against a bound device code (ErrWrongKey).
func (s *Storage) deviceState(ctx context.Context, clientID, deviceCode string, jkt *string) (*op.DeviceAuthorizationState, *models.DeviceAuthorization, error) {
	d, err := s.db.PollDeviceAuthorization(ctx, models.HashToken(deviceCode), clientID, pollFloor(s.cfg.DevicePollInterval), jkt)
	if errors.Is(err, models.ErrSlowDown) {
		return nil, nil, fmt.Errorf("device polled too fast: %w", context.DeadlineExceeded)
	}
	if errors.Is(err, models.ErrExpired) {
		// Not done and expired: expired_token (RFC 8628 §3.5).
		return &op.DeviceAuthorizationState{ClientID: clientID, Expires: time.Now().Add(-time.Second)}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("device code: %w", err)
	}
	st := &op.DeviceAuthorizationState{
		ClientID: d.ClientID, Scopes: slices.Clone(d.Scopes),
		Expires: time.Now().Add(d.ExpiresAt.Sub(s.now())),
		Done:    d.State == models.DeviceStateApproved, Denied: d.State == models.DeviceStateDenied,
	}
	if st.Done {
		st.Subject, st.AMR = deref(d.UserID), slices.Clone(d.AMR)
		if d.AuthTime != nil {
			st.AuthTime = *d.AuthTime
		}
	}
	return st, d, nil
}

// deviceGrant is the grantInfo of an approved device authorization.
func deviceGrant(d *models.DeviceAuthorization, st *op.DeviceAuthorizationState) *grantInfo {
	return &grantInfo{
		clientID: d.ClientID, userID: deref(d.UserID), sessionID: deref(d.SessionID),
		scopes: st.GetScopes(), grantScopes: st.GetScopes(), audience: []string{d.ClientID},
		amr: slices.Clone(d.AMR), acr: d.ACR, authTime: st.AuthTime,
	}
}

// NormalizeUserCode turns what a user typed into the stored form
// XXXX-XXXX (upper case, separators ignored); ok is false when it cannot
// be a user code.
func NormalizeUserCode(in string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case strings.ContainsRune(op.CharSetBase20, r):
			b.WriteRune(r)
		case r == '-' || r == ' ':
		default:
			return "", false
		}
	}
	code := b.String()
	if len(code) != 8 {
		return "", false
	}
	return code[:4] + "-" + code[4:], true
}

// pollJitter is how much earlier than the announced interval a poll may
// come without slow_down: a client that sleeps the interval between polls
// measures a little less on the server (timers, request latency). RFC 8628
// §3.5 asks for slow_down when a client polls too fast; a poll at the
// interval is not too fast.
const pollJitter = time.Second

// pollFloor is the shortest gap between two polls that is not answered
// slow_down: the interval less pollJitter, and at least half the interval.
func pollFloor(interval time.Duration) time.Duration {
	return max(interval-pollJitter, interval/2)
}
