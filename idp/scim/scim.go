// Package scim serves the SCIM 2.0 service provider (RFC 7643 schemas,
// RFC 7644 protocol) at /scim/v2 on the public listener: a directory
// (Entra ID, Okta, an HR system) creates, reads, replaces, patches and
// deletes Users and Groups, lists them with filters and pages, and reads
// ServiceProviderConfig, Schemas and ResourceTypes.
//
// The protocol is github.com/elimity-com/scim's (routing, schema and PATCH
// validation, filter parsing with github.com/scim2/filter-parser/v2); this
// package authenticates the bearer token, bounds the body, maps SCIM
// resources onto models.User and models.Group, and audits every change as
// made by the token ("scim:<token name>"). Its one route is a row of
// idp/routes.go.
//
// It may import idp/web and models; it never imports idp or another
// audience package (signin, account, admin).
package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// MaxBody bounds a request body. It is the maxPayloadSize the library
// announces in ServiceProviderConfig (bulk, which we do not support) and
// the server-wide body limit.
const MaxBody = 1 << 20

// MaxResults is the most resources one list page returns (RFC 7644
// §3.4.2.4: a larger count is lowered to it).
const MaxResults = 100

func init() {
	// Entra ID sends booleans as strings ("False", RFC 7643 §2.3.2 wants
	// the JSON literal); accept both. The library keeps this as a package
	// setting, set once here before any request.
	schema.SetAllowStringValues(true)
}

// Config is what the service provider reads of the server configuration.
type Config struct {
	// BaseURL is the service provider's base, issuer + "/scim/v2", for
	// meta.location and Location (RFC 7644 §3.1).
	BaseURL string
	Now     func() time.Time
	Logger  *slog.Logger
}

// Deps are the service provider's dependencies, wired in idp.
type Deps struct {
	DB     *models.DB
	Config Config
}

// Handlers serves /scim/v2.
type Handlers struct {
	db      *models.DB
	cfg     Config
	spc     scim.ServiceProviderConfig
	users   schema.Schema
	groups  schema.Schema
	ext     schema.Schema
	cursors *cursorCache
}

// New returns the service provider's handlers.
func New(d Deps) *Handlers {
	return &Handlers{db: d.DB, cfg: d.Config, users: schema.CoreUserSchema(), groups: schema.CoreGroupSchema(),
		ext: schema.ExtensionEnterpriseUser(), cursors: newCursorCache(d.Config.Now),
		spc: scim.ServiceProviderConfig{
			DocumentationURI: optional.NewString("https://github.com/latchkey-idp/latchkey#scim-provisioning"),
			AuthenticationSchemes: []scim.AuthenticationScheme{{
				Type: scim.AuthenticationTypeOauthBearerToken, Name: "Bearer token", Primary: true,
				Description: "A SCIM token from `latchkey scim token add`, the console or /api/v1/scim-tokens (Authorization: Bearer lks_…).",
				SpecURI:     optional.NewString("https://www.rfc-editor.org/rfc/rfc6750"),
			}},
			MaxResults: MaxResults, SupportFiltering: true, SupportPatch: true,
		}}
}

// request is one authenticated request: who makes the change (for the
// audit log) and where from. It is a value handed to the resource
// handlers, not carried in the request's context.
type request struct {
	h       *Handlers
	token   *models.APIToken
	ip      string
	w       http.ResponseWriter
	rawBody []byte
}

func (q *request) actor() string { return "scim:" + q.token.Name }

// HandleSCIM serves every request under /scim/v2: it authenticates the
// bearer token (RFC 6750 §2.1), reads the body within MaxBody, and hands
// the request to the SCIM server.
func (h *Handlers) HandleSCIM(c echo.Context) error {
	r, w := c.Request(), c.Response()
	tok, err := h.authenticate(r)
	if err != nil {
		if !errors.Is(err, models.ErrNotFound) {
			return err // the error handler answers storage failures (503)
		}
		// RFC 7644 §3.12 (401) with RFC 6750 §3's challenge, which names
		// no error when the request carried no credentials (§3.1).
		challenge := `Bearer realm="latchkey-scim"`
		if r.Header.Get("Authorization") != "" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, http.StatusUnauthorized, "", "A valid SCIM bearer token is required (Authorization: Bearer lks_…); this one is missing, unknown or revoked.")
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) || errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "", "The request body is larger than "+strconv.Itoa(MaxBody)+" bytes.")
			return nil
		}
		writeError(w, http.StatusBadRequest, scimerrors.ScimTypeInvalidSyntax, "The request body could not be read.")
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	q := &request{h: h, token: tok, ip: c.RealIP(), w: w, rawBody: body}
	srv, err := scim.NewServer(&scim.ServerArgs{ServiceProviderConfig: &h.spc, ResourceTypes: h.resourceTypes(q)},
		scim.WithBaseURL(h.cfg.BaseURL), scim.WithLogger(scimLogger{h.cfg.Logger}))
	if err != nil {
		return err
	}
	http.StripPrefix("/scim", srv).ServeHTTP(w, r)
	return nil
}

// resourceTypes are Users (with the enterprise extension, accepted so
// that Entra ID's default mapping works, not stored) and Groups, bound to
// the request q.
func (h *Handlers) resourceTypes(q *request) []scim.ResourceType {
	return []scim.ResourceType{
		{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Description: optional.NewString("User Account"),
			Schema: h.users, SchemaExtensions: []scim.SchemaExtension{{Schema: h.ext}}, Handler: userHandler{q}},
		{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Description: optional.NewString("Group"),
			Schema: h.groups, Handler: groupHandler{q}},
	}
}

// authenticate returns the active SCIM token of the request's bearer
// credentials. Errors: models.ErrNotFound (missing, unknown, revoked).
func (h *Handlers) authenticate(r *http.Request) (*models.APIToken, error) {
	// The auth scheme is case-insensitive (RFC 9110 §11.1).
	scheme, raw, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, models.ErrNotFound
	}
	return h.db.SCIMTokenByRaw(r.Context(), strings.TrimSpace(raw))
}

// writeError writes a SCIM error response (RFC 7644 §3.12).
func writeError(w http.ResponseWriter, status int, scimType scimerrors.ScimType, detail string) {
	raw, _ := json.Marshal(scimerrors.ScimError{Status: status, ScimType: scimType, Detail: detail})
	w.Header().Set("Content-Type", "application/scim+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// scimError turns an error of models into the SCIM error the library
// writes. An unexpected error is logged and answered without its text;
// an unreachable database says so, with Retry-After (the library answers
// it with 500: SCIM defines no 503, RFC 7644 §3.12).
func (q *request) scimError(err error, what string) error {
	switch {
	case errors.Is(err, models.ErrNotFound):
		return scimerrors.ScimErrorResourceNotFound(what)
	case errors.Is(err, models.ErrConflict):
		return scimerrors.ScimError{Status: http.StatusConflict, ScimType: scimerrors.ScimTypeUniqueness, Detail: message(err)}
	case errors.Is(err, models.ErrInvalid):
		return scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimerrors.ScimTypeInvalidValue, Detail: message(err)}
	}
	var se scimerrors.ScimError
	if errors.As(err, &se) {
		return se
	}
	if models.Unavailable(err) {
		q.w.Header().Set("Retry-After", web.RetryAfter)
		return scimerrors.ScimError{Status: http.StatusInternalServerError, Detail: "Latchkey cannot reach its database right now; try again in a few seconds."}
	}
	q.h.cfg.Logger.Error("scim request failed", "err", err)
	return scimerrors.ScimErrorInternal
}

// message is a models validation or conflict error without its sentinel
// prefix ("invalid: …").
func message(err error) string {
	msg := err.Error()
	for _, p := range []string{"invalid: ", "conflict: "} {
		if i := strings.Index(msg, p); i >= 0 {
			return msg[i+len(p):]
		}
	}
	return msg
}

// audit records a change made by the request's token.
func (q *request) audit(r *http.Request, typ, userID string, detail models.JSONMap) {
	detail["via"], detail["scim_token"] = "scim", q.token.ID
	ev := &models.AuditEvent{Type: typ, Success: true, UserID: userID, ActorID: q.actor(), IP: q.ip, Detail: detail}
	if err := q.h.db.Audit(r.Context(), ev); err != nil {
		q.h.cfg.Logger.Error("audit", "type", typ, "err", err)
	}
}

// badRequest is a 400 with a SCIM error type.
func badRequest(t scimerrors.ScimType, detail string) error {
	return scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: t, Detail: detail}
}

// checkKnownAttributes refuses a resource whose top-level attributes are
// not in its schema (RFC 7644 §3.12 invalidSyntax: the body does not
// conform to the schema); the library would drop them silently. Schema
// URNs of declared extensions are allowed, as are the common attributes
// (RFC 7643 §3.1).
func (q *request) checkKnownAttributes(s schema.Schema, exts ...schema.Schema) error {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(q.rawBody, &body); err != nil {
		return scimerrors.ScimErrorInvalidSyntax
	}
	known := map[string]bool{"schemas": true, "id": true, "externalid": true, "meta": true}
	for _, a := range s.Attributes {
		known[strings.ToLower(a.Name())] = true
	}
	for _, e := range exts {
		known[strings.ToLower(e.ID)] = true
	}
	for k := range body {
		if !known[strings.ToLower(k)] {
			return badRequest(scimerrors.ScimTypeInvalidSyntax, "Unknown attribute "+strconv.Quote(k)+" for "+s.Name.Value()+".")
		}
	}
	return nil
}

// scimLogger sends the library's error logs to ours.
type scimLogger struct{ l *slog.Logger }

func (s scimLogger) Error(args ...any) {
	if len(args) > 0 {
		if msg, ok := args[0].(string); ok {
			s.l.Error("scim: "+msg, args[1:]...)
			return
		}
	}
	s.l.Error("scim", "args", args)
}
