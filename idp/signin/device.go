package signin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// The user side of the device authorization grant (RFC 8628 §3.3): the
// user opens /device (verification_uri, or verification_uri_complete with
// the code filled in), signs in with a passkey, checks the code matches the
// one on the device and approves or denies the named application.
// Approval needs a passkey ceremony at most web.FreshSignIn old, so a
// phished code cannot be approved by merely clicking in an old session.

// Device audit events.
const (
	EventDeviceApproved = "device_approved"
	EventDeviceDenied   = "device_denied"
)

type devicePage struct {
	web.Base
	UserCode, ClientName, Error string
	Scopes                      []scopeInfo
	NeedSignIn                  bool
}

// deviceGrant looks up the pending grant of a user code from a form or
// query value. It returns a page-level error message for unknown, expired
// or malformed codes.
func (s *Handlers) deviceGrant(c echo.Context, raw string) (*models.DeviceAuthorization, string, error) {
	code, ok := oidc.NormalizeUserCode(raw)
	if !ok {
		return nil, i18n.Key("err.device_code_bad"), nil
	}
	d, err := s.db.DeviceAuthorizationByUserCode(c.Request().Context(), code)
	if errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrExpired) {
		return nil, i18n.Key("err.device_code_unknown"), nil
	}
	return d, "", err
}

// HandleDeviceShow serves GET /device.
func (s *Handlers) HandleDeviceShow(c echo.Context) error {
	ctx := c.Request().Context()
	p := &devicePage{}
	raw := c.QueryParam("user_code")
	if raw == "" {
		return s.Render(c, http.StatusOK, "device", p)
	}
	d, msg, err := s.deviceGrant(c, raw)
	if err != nil {
		return err
	}
	if d == nil {
		p.Error = msg
		return s.Render(c, http.StatusBadRequest, "device", p)
	}
	cl, err := s.db.ClientByID(ctx, d.ClientID)
	if err != nil {
		return err
	}
	p.UserCode, p.ClientName, p.Scopes = d.UserCode, cl.Name, describeScopes(d.Scopes)
	sess, err := s.sessions.Current(c)
	if err != nil {
		return err
	}
	if sess == nil || s.cfg.Now().Sub(sess.AuthTime) > web.FreshSignIn {
		p.NeedSignIn = true
		p.Scripts = []string{"webauthn.js", "login.js"}
	}
	return s.Render(c, http.StatusOK, "device_approve", p)
}

// HandleDeviceLoginFinish signs in (or re-authenticates the session) and
// returns to the approval screen. login.js sends the user code as
// authRequestID.
func (s *Handlers) HandleDeviceLoginFinish(c echo.Context) error {
	var req struct {
		UserCode   string          `json:"authRequestID"`
		CeremonyID string          `json:"ceremonyID"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := web.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.SessionSignIn(c, req.CeremonyID, req.Credential, "device"); err != nil {
		return err
	}
	code, _ := oidc.NormalizeUserCode(req.UserCode)
	return c.JSON(http.StatusOK, map[string]string{"redirect": oidc.DevicePath + "?user_code=" + url.QueryEscape(code)})
}

// HandleDeviceDecide approves or denies the grant for the signed-in user.
func (s *Handlers) HandleDeviceDecide(c echo.Context) error {
	ctx := c.Request().Context()
	d, msg, err := s.deviceGrant(c, c.FormValue("user_code"))
	if err != nil {
		return err
	}
	if d == nil {
		return s.Render(c, http.StatusBadRequest, "device", &devicePage{Error: msg})
	}
	sess, err := s.sessions.Current(c)
	if err != nil {
		return err
	}
	if sess == nil || s.cfg.Now().Sub(sess.AuthTime) > web.FreshSignIn {
		return c.Redirect(http.StatusSeeOther, oidc.DevicePath+"?user_code="+url.QueryEscape(d.UserCode))
	}
	approve := c.FormValue("decision") == "allow"
	if approve {
		if err := s.svc.CheckClientGroups(ctx, d.ClientID, sess.UserID, c.RealIP()); err != nil {
			return err
		}
	}
	if err := s.db.DecideDeviceAuthorization(ctx, d.ID, approve, sess.UserID, sess.ID, sess.AuthTime, sess.AMR, sess.ACR); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return s.Render(c, http.StatusConflict, "device", &devicePage{Error: i18n.Key("err.device_code_used")})
		}
		return err
	}
	ev := &models.AuditEvent{Type: EventDeviceDenied, Success: false, UserID: sess.UserID, ClientID: d.ClientID,
		Detail: models.JSONMap{"device_authorization": d.ID, "scopes": d.Scopes}}
	title, text := i18n.Key("device.denied_title"), i18n.Key("device.denied")
	if approve {
		if err := s.db.RecordSessionClient(ctx, sess.ID, d.ClientID); err != nil { // back-channel logout
			return err
		}
		ev.Type, ev.Success = EventDeviceApproved, true
		title, text = i18n.Key("device.connected_title"), i18n.Key("device.connected")
	}
	s.Audit(c, ev)
	return s.Render(c, http.StatusOK, "message", &web.MessagePage{Title: title, Message: text})
}
