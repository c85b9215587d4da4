package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// Dynamic client registration (RFC 7591) and its management protocol
// (RFC 7592), off unless Config.Registration turns it on:
//
//   - RegistrationToken: POST RegistrationEndpoint needs an initial access
//     token (RFC 7591 §3) that an admin issued (models.CreateRegistrationToken);
//   - RegistrationOpen: a request without one is accepted when every
//     redirect URI matches one of Config.RegistrationRedirectPatterns; a
//     request with one is checked as in token mode.
//
// A registered client is public (token_endpoint_auth_method "none", PKCE)
// or authenticates with private_key_jwt against the jwks it registered
// inline; jwks_uri is refused, as nothing here fetches it. It never gets a
// secret, always needs PKCE (S256) and always asks the user's consent. Its
// registration access token (RFC 7592 §1) is stored hashed; because the
// stored hash cannot be shown again, every read and update answers a new
// one, which replaces the old (RFC 7592 §3 lets the server rotate it).
// Nothing is stored for a refused request; every outcome is audited.

// Registration modes (Config.Registration).
const (
	RegistrationOff   = "off"
	RegistrationToken = "token"
	RegistrationOpen  = "open"
)

// RegistrationEndpoint is the path of the client registration endpoint;
// RegistrationEndpoint + "/{client_id}" is a client's configuration
// endpoint (its registration_client_uri, RFC 7592 §2).
const RegistrationEndpoint = "/oauth/register"

// Caps on registration requests: a request over them is refused
// (invalid_client_metadata, or 413 for the body), never truncated.
const (
	maxRegistrationBody   = 32 << 10
	maxRegisteredURIs     = 10
	maxRegisteredURILen   = 1024
	maxClientNameRunes    = 100
	maxRegisteredJWKS     = 8 << 10
	defaultRegisteredName = "Registered client"
)

// registeredGrantTypes are the grant types a registered client may ask
// for; registeredAuthMethods its token endpoint authentication methods.
var (
	registeredGrantTypes  = []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken), string(oidc.GrantTypeDeviceCode)}
	registeredAuthMethods = []string{string(oidc.AuthMethodNone), string(oidc.AuthMethodPrivateKeyJWT)}
)

// The errors of RFC 7591 §3.2.2.
func errRedirectURI(format string, args ...any) *oidc.Error {
	return (&oidc.Error{ErrorType: "invalid_redirect_uri"}).WithDescription(format, args...)
}

func errMetadata(format string, args ...any) *oidc.Error {
	return (&oidc.Error{ErrorType: "invalid_client_metadata"}).WithDescription(format, args...)
}

// errRegistrationToken is RFC 6750 §3.1's 401 for a missing, unknown,
// expired or revoked initial or registration access token.
func errRegistrationToken() error {
	return op.NewStatusError((&oidc.Error{ErrorType: "invalid_token"}).
		WithDescription("the access token is missing, invalid, expired or revoked"), http.StatusUnauthorized)
}

// clientMetadata is the client metadata of RFC 7591 §2 that Latchkey
// stores; anything else a client sends is ignored (RFC 7591 §2). The
// fields of RFC 7592 §2.2 that a client must not send are here to be
// refused.
type clientMetadata struct {
	RedirectURIs             []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes               []string        `json:"grant_types,omitempty"`
	ResponseTypes            []string        `json:"response_types,omitempty"`
	ClientName               string          `json:"client_name,omitempty"`
	Scope                    string          `json:"scope,omitempty"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                  string          `json:"jwks_uri,omitempty"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris,omitempty"`
	ApplicationType          string          `json:"application_type,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg,omitempty"`
	SoftwareStatement        string          `json:"software_statement,omitempty"`
	// RFC 9126 §6 and RFC 9449 §5.2: the client asks to be held to PAR
	// and to DPoP-bound access tokens (models.Client.RequirePAR,
	// RequireDPoP).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	DPoPBoundAccessTokens              bool `json:"dpop_bound_access_tokens,omitempty"`

	ClientID                string           `json:"client_id,omitempty"`
	ClientSecret            string           `json:"client_secret,omitempty"`
	RegistrationAccessToken *json.RawMessage `json:"registration_access_token,omitempty"`
	RegistrationClientURI   *json.RawMessage `json:"registration_client_uri,omitempty"`
	ClientIDIssuedAt        *json.RawMessage `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt   *json.RawMessage `json:"client_secret_expires_at,omitempty"`
}

// clientInformation is the answer of registration, read and update (RFC
// 7591 §3.2.1, RFC 7592 §3): the metadata as registered, which may differ
// from what was asked (the server's defaults).
type clientInformation struct {
	ClientID                 string          `json:"client_id"`
	ClientIDIssuedAt         int64           `json:"client_id_issued_at"`
	RegistrationAccessToken  string          `json:"registration_access_token"`
	RegistrationClientURI    string          `json:"registration_client_uri"`
	ClientName               string          `json:"client_name"`
	RedirectURIs             []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris,omitempty"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	GrantTypes               []string        `json:"grant_types"`
	ResponseTypes            []string        `json:"response_types"`
	Scope                    string          `json:"scope"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	// What the client is held to: its own request, an admin's switch or
	// the FAPI 2.0 profile (RFC 9126 §6, RFC 9449 §5.2).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests"`
	DPoPBoundAccessTokens              bool `json:"dpop_bound_access_tokens"`
}

// RegistrationEnabled says whether the registration endpoint is served.
func (p *Provider) RegistrationEnabled() bool {
	return p.cfg.Registration == RegistrationToken || p.cfg.Registration == RegistrationOpen
}

func (p *Provider) registrationRoutes(r chi.Router) {
	if !p.RegistrationEnabled() {
		return
	}
	r.Post(RegistrationEndpoint, p.handleRegister)
	r.Get(RegistrationEndpoint+"/{id}", p.handleRegisteredRead)
	r.Put(RegistrationEndpoint+"/{id}", p.handleRegisteredUpdate)
	r.Delete(RegistrationEndpoint+"/{id}", p.handleRegisteredDelete)
}

// handleRegister is POST /oauth/register (RFC 7591 §3): 201 with the
// client information, or the error.
func (p *Provider) handleRegister(w http.ResponseWriter, r *http.Request) {
	info, err := p.register(r)
	p.answerRegistration(w, r, http.StatusCreated, info, err)
}

func (p *Provider) answerRegistration(w http.ResponseWriter, r *http.Request, status int, info *clientInformation, err error) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) && oe.ErrorType == "invalid_token" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`) // RFC 6750 §3
		}
		op.WriteError(w, r, err, nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(info)
}

// register checks the initial access token and the metadata and stores
// the client. Nothing is stored for a refused request; the refusal is
// audited with its error code.
func (p *Provider) register(r *http.Request) (*clientInformation, error) {
	ctx := r.Context()
	via, err := p.registrationGrant(ctx, r)
	if err != nil {
		p.auditRegistration(ctx, r, models.EventClientRegistrationFailed, "", via, err)
		return nil, err
	}
	md, err := readClientMetadata(r)
	if err == nil {
		err = md.refuseServerFields(false, "")
	}
	var c *models.Client
	if err == nil {
		c, err = p.registeredClient(md, via)
	}
	if err != nil {
		p.auditRegistration(ctx, r, models.EventClientRegistrationFailed, "", via, err)
		return nil, err
	}
	if via == models.RegisteredOpen {
		if err := p.openRegistrationRoom(ctx); err != nil {
			p.auditRegistration(ctx, r, models.EventClientRegistrationFailed, "", via, err)
			return nil, err
		}
	}
	rat, err := p.db.RegisterClient(ctx, c)
	if err != nil {
		return nil, err
	}
	p.auditRegistration(ctx, r, models.EventClientRegistered, c.ID, via, nil)
	return p.clientInformation(c, rat), nil
}

// openRegistrationRoom refuses an open registration once open
// registration holds Config.RegistrationOpenLimit clients, so that
// anonymous requests cannot grow the clients table without bound (the
// endpoint is also rate limited). Two racing requests may both pass at
// the limit; the bound holds within the number of instances.
func (p *Provider) openRegistrationRoom(ctx context.Context) error {
	n, err := p.db.CountRegisteredClients(ctx, models.RegisteredOpen, p.cfg.RegistrationOpenLimit)
	if err != nil {
		return err
	}
	if n >= p.cfg.RegistrationOpenLimit {
		return op.NewStatusError((&oidc.Error{ErrorType: "temporarily_unavailable"}).
			WithDescription("open registration is full; ask an administrator for an initial access token"), http.StatusServiceUnavailable)
	}
	return nil
}

// registrationGrant decides who may register: the ID of a valid initial
// access token, or models.RegisteredOpen in open mode without one. Errors:
// 401 invalid_token for a missing (token mode), malformed, unknown,
// expired or revoked initial access token.
func (p *Provider) registrationGrant(ctx context.Context, r *http.Request) (string, error) {
	raw, present := bearerToken(r)
	if !present {
		if p.cfg.Registration == RegistrationOpen {
			return models.RegisteredOpen, nil
		}
		return "", errRegistrationToken()
	}
	t, err := p.db.RegistrationTokenByRaw(ctx, raw)
	if errors.Is(err, models.ErrNotFound) {
		return "", errRegistrationToken()
	}
	if err != nil {
		return "", err
	}
	return t.ID, nil
}

// bearerToken returns the token of an Authorization: Bearer header and
// whether the header was sent at all ("" for a malformed one).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

// readClientMetadata decodes a JSON registration body of at most
// maxRegistrationBody bytes. Errors: invalid_client_metadata (not a JSON
// object of the right types), 413 invalid_request (too large).
func readClientMetadata(r *http.Request) (*clientMetadata, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/json") {
		return nil, oidc.ErrInvalidRequest().WithDescription("the request body must be application/json (RFC 7591 §3.1)")
	}
	// No ResponseWriter: the limit answers through our error rather than
	// by closing the connection.
	body := http.MaxBytesReader(nil, r.Body, maxRegistrationBody)
	var md clientMetadata
	dec := json.NewDecoder(body)
	if err := dec.Decode(&md); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("the request body is too large"), http.StatusRequestEntityTooLarge)
		}
		return nil, errMetadata("the request body is not a JSON object of client metadata: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, errMetadata("the request body holds more than one JSON value")
	}
	return &md, nil
}

// jsonProblem names what is wrong with a JSON body without echoing it.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s has the wrong type", te.Field)
	}
	return "malformed JSON"
}

// refuseServerFields refuses what only the server sets (RFC 7592 §2.2):
// at registration a client_id or the other server-issued fields; at an
// update anything but the client's own client_id.
func (md *clientMetadata) refuseServerFields(update bool, clientID string) error {
	switch {
	case md.RegistrationAccessToken != nil, md.RegistrationClientURI != nil, md.ClientIDIssuedAt != nil, md.ClientSecretExpiresAt != nil:
		return oidc.ErrInvalidRequest().WithDescription("registration_access_token, registration_client_uri, client_id_issued_at and client_secret_expires_at are set by the server (RFC 7592 §2.2)")
	case md.ClientSecret != "":
		return errMetadata("registered clients have no client_secret")
	case !update && md.ClientID != "":
		return errMetadata("client_id is assigned by the server (RFC 7591 §3.2.1)")
	case update && md.ClientID != clientID:
		return oidc.ErrInvalidRequest().WithDescription("client_id must be the client's own (RFC 7592 §2.2)")
	}
	return nil
}

// registeredClient checks md (RFC 7591 §2) and builds the client it
// describes; via is who registers it (registrationGrant).
func (p *Provider) registeredClient(md *clientMetadata, via string) (*models.Client, error) {
	method := md.TokenEndpointAuthMethod
	if method == "" { // RFC 7591 §2 defaults to client_secret_basic, which we do not issue
		method = string(oidc.AuthMethodNone)
		if len(md.JWKS) > 0 {
			method = string(oidc.AuthMethodPrivateKeyJWT)
		}
	}
	if !slices.Contains(registeredAuthMethods, method) {
		return nil, errMetadata("token_endpoint_auth_method must be none (a public client with PKCE) or private_key_jwt")
	}
	public := method == string(oidc.AuthMethodNone)
	jwks, err := registeredJWKS(md, public)
	if err != nil {
		return nil, err
	}
	if err := checkGrantAndResponseTypes(md); err != nil {
		return nil, err
	}
	if err := p.checkRegisteredURIs(md.RedirectURIs, public, via, errRedirectURI, true); err != nil {
		return nil, err
	}
	if err := p.checkRegisteredURIs(md.PostLogoutRedirectURIs, public, via, errMetadata, false); err != nil {
		return nil, err
	}
	name, err := registeredName(md.ClientName)
	if err != nil {
		return nil, err
	}
	scopes, err := registeredScopes(md.Scope)
	if err != nil {
		return nil, err
	}
	alg := md.IDTokenSignedResponseAlg
	if alg == "" {
		alg = "RS256"
	}
	if alg != "RS256" && alg != "ES256" {
		return nil, errMetadata("id_token_signed_response_alg must be RS256 or ES256")
	}
	// Registered clients always send PKCE (RFC 9700 §2.1.1) and never skip
	// consent: no admin vouched for them.
	return &models.Client{Name: name, Public: public, RedirectURIs: md.RedirectURIs, PostLogoutRedirectURIs: md.PostLogoutRedirectURIs,
		AllowedScopes: scopes, IDTokenAlg: alg, JWKS: jwks, RequirePKCE: true, RegisteredBy: via,
		RequirePAR: md.RequirePushedAuthorizationRequests, RequireDPoP: md.DPoPBoundAccessTokens}, nil
}

// registeredJWKS checks the inline jwks of a private_key_jwt client.
// jwks_uri is refused: we would have to fetch it.
func registeredJWKS(md *clientMetadata, public bool) (string, error) {
	switch {
	case md.JWKSURI != "":
		return "", errMetadata("jwks_uri is not supported; register the keys inline as jwks")
	case public && len(md.JWKS) > 0:
		return "", errMetadata("jwks is only for token_endpoint_auth_method private_key_jwt")
	case public:
		return "", nil
	case len(md.JWKS) == 0:
		return "", errMetadata("private_key_jwt needs the client's public keys as jwks")
	case len(md.JWKS) > maxRegisteredJWKS:
		return "", errMetadata("jwks is larger than %d bytes", maxRegisteredJWKS)
	}
	if err := ParseClientJWKS(string(md.JWKS)); err != nil {
		return "", errMetadata("jwks is not a usable JWK Set: %s", err.Error())
	}
	return string(md.JWKS), nil
}

func checkGrantAndResponseTypes(md *clientMetadata) error {
	for _, g := range md.GrantTypes {
		if !slices.Contains(registeredGrantTypes, g) {
			return errMetadata("grant_types may hold only %s", strings.Join(registeredGrantTypes, ", "))
		}
	}
	if len(md.GrantTypes) > 0 && !slices.Contains(md.GrantTypes, string(oidc.GrantTypeCode)) {
		return errMetadata("grant_types must include authorization_code: redirect_uris are registered for it")
	}
	for _, rt := range md.ResponseTypes {
		if rt != string(oidc.ResponseTypeCode) {
			return errMetadata("response_types may hold only code")
		}
	}
	return nil
}

// checkRegisteredURIs checks redirect (or post-logout redirect) URIs:
// at most maxRegisteredURIs of at most maxRegisteredURILen bytes, each an
// exact URI (models.CheckRedirectURI) over https, http only on a loopback
// host (RFC 8252 §7.3) and a private-use scheme only for a public (native)
// client (RFC 8252 §7.1); under open registration each must match an
// admin's pattern. bad builds the error (RFC 7591 §3.2.2
// invalid_redirect_uri for redirect URIs).
func (p *Provider) checkRegisteredURIs(uris []string, public bool, via string, bad func(string, ...any) *oidc.Error, required bool) error {
	if required && len(uris) == 0 {
		return bad("at least one redirect URI is required")
	}
	if len(uris) > maxRegisteredURIs {
		return bad("at most %d URIs may be registered", maxRegisteredURIs)
	}
	for _, u := range uris {
		if len(u) > maxRegisteredURILen {
			return bad("a URI is longer than %d bytes", maxRegisteredURILen)
		}
		if err := models.CheckRedirectURI(u); err != nil {
			return bad("%s", strings.TrimPrefix(err.Error(), models.ErrInvalid.Error()+": "))
		}
		if err := registeredURIScheme(u, public); err != nil {
			return bad("%s", err.Error())
		}
		if via == models.RegisteredOpen && !p.cfg.openRedirectAllowed(u) {
			return bad("%q matches none of the redirect URI patterns open registration allows", u)
		}
	}
	return nil
}

func registeredURIScheme(raw string, public bool) error {
	u, _ := url.Parse(raw) // parsed by CheckRedirectURI
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q: http is allowed only on a loopback host; use https", raw)
	}
	if public && strings.Contains(u.Scheme, ".") {
		return nil // a native app's private-use scheme (reverse domain name, RFC 8252 §7.1)
	}
	return fmt.Errorf("%q: only https, loopback http and, for public clients, reverse-domain private-use schemes are allowed", raw)
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func registeredName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return defaultRegisteredName, nil
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxClientNameRunes {
		return "", errMetadata("client_name must be valid UTF-8 of at most %d characters", maxClientNameRunes)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", errMetadata("client_name must not contain control characters")
		}
	}
	return name, nil
}

func registeredScopes(scope string) (models.StringList, error) {
	out := models.StringList{}
	for _, s := range strings.Fields(scope) {
		if !slices.Contains(supportedScopes, s) {
			return nil, errMetadata("scope %q is not supported", s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// clientInformation is what the client is told of itself, with rat, its
// new registration access token.
func (p *Provider) clientInformation(c *models.Client, rat string) *clientInformation {
	a := &clientAdapter{m: c, cfg: &p.cfg}
	scopes := []string(c.AllowedScopes)
	if len(scopes) == 0 {
		scopes = supportedScopes
	}
	info := &clientInformation{ClientID: c.ID, ClientIDIssuedAt: c.CreatedAt.Unix(), RegistrationAccessToken: rat,
		RegistrationClientURI: p.cfg.Issuer + RegistrationEndpoint + "/" + url.PathEscape(c.ID),
		ClientName:            c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		TokenEndpointAuthMethod: string(a.AuthMethod()), ResponseTypes: []string{string(oidc.ResponseTypeCode)},
		Scope: strings.Join(scopes, " "), IDTokenSignedResponseAlg: c.IDTokenAlg,
		RequirePushedAuthorizationRequests: c.NeedsPAR() || p.cfg.RequirePAR, DPoPBoundAccessTokens: c.NeedsDPoP()}
	for _, g := range a.GrantTypes() {
		info.GrantTypes = append(info.GrantTypes, string(g))
	}
	if c.JWKS != "" {
		info.JWKS = json.RawMessage(c.JWKS)
	}
	return info
}

// auditRegistration records a registration event; via is who registered
// (an initial access token's ID, "open") or, for RFC 7592 calls, "".
func (p *Provider) auditRegistration(ctx context.Context, r *http.Request, typ, clientID, via string, err error) {
	ev := &models.AuditEvent{Type: typ, Success: err == nil, ClientID: clientID, IP: clientIP(r), Detail: models.JSONMap{}}
	switch {
	case via == models.RegisteredOpen:
		ev.ActorID = "registration:open"
	case via != "":
		ev.ActorID = "registration_token:" + via
	case clientID != "":
		ev.ActorID = "client:" + clientID
	}
	var oe *oidc.Error
	if errors.As(err, &oe) {
		ev.Detail["error"] = string(oe.ErrorType)
	}
	p.storage.audit(ctx, ev)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// openRedirectAllowed says whether u matches one of the admin's patterns
// for open registration.
func (c *Config) openRedirectAllowed(u string) bool {
	for _, re := range c.registrationPatterns {
		if re.MatchString(u) {
			return true
		}
	}
	return false
}

// compileRedirectPattern turns an admin's redirect URI pattern into a
// regular expression: the pattern matches a whole URI, and each "*"
// matches a run of characters without "/", "?", "#", "@" or "\", so that
// a wildcard can stand for a subdomain label or a port but never move the
// URI to another host, path or query.
func compileRedirectPattern(p string) (*regexp.Regexp, error) {
	scheme, rest, ok := strings.Cut(p, "://")
	if !ok || scheme == "" || strings.Contains(scheme, "*") || rest == "" || strings.HasPrefix(rest, "*") && !strings.HasPrefix(rest, "*.") {
		return nil, fmt.Errorf("redirect pattern %q must be an absolute URI whose scheme has no * (a host may start with *.)", p)
	}
	parts := strings.Split(p, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.Compile("^" + strings.Join(parts, `[^/?#@\\]*`) + "$")
}

// Client configuration endpoint (RFC 7592 §2): the registration access
// token of the client named in the path authorises reading, replacing and
// deleting its registration. A missing or wrong token, an unknown client
// and an admin-made client are all 401 invalid_token (RFC 7592 §2.1).

// handleRegisteredRead is GET /oauth/register/{id} (RFC 7592 §2.1).
func (p *Provider) handleRegisteredRead(w http.ResponseWriter, r *http.Request) {
	info, err := p.readRegistered(r)
	p.answerRegistration(w, r, http.StatusOK, info, err)
}

func (p *Provider) readRegistered(r *http.Request) (*clientInformation, error) {
	ctx := r.Context()
	c, err := p.managedClient(r)
	if err != nil {
		return nil, err
	}
	old := c.RegistrationTokenHash
	rat := models.NewRegistrationAccessToken(c)
	if err := p.db.ReplaceRegisteredClient(ctx, c, old); err != nil {
		return nil, registrationStoreError(err)
	}
	return p.clientInformation(c, rat), nil
}

// handleRegisteredUpdate is PUT /oauth/register/{id} (RFC 7592 §2.2): the
// body replaces every metadata value; what it leaves out takes the
// default. The authentication method cannot change.
func (p *Provider) handleRegisteredUpdate(w http.ResponseWriter, r *http.Request) {
	info, err := p.updateRegistered(r)
	p.answerRegistration(w, r, http.StatusOK, info, err)
}

func (p *Provider) updateRegistered(r *http.Request) (*clientInformation, error) {
	ctx := r.Context()
	c, err := p.managedClient(r)
	if err != nil {
		return nil, err
	}
	md, err := readClientMetadata(r)
	if err == nil {
		err = md.refuseServerFields(true, c.ID)
	}
	var n *models.Client
	if err == nil {
		// Under open registration, a client that registered without an
		// initial access token stays within the admin's patterns.
		via := c.RegisteredBy
		if via == models.RegisteredOpen && p.cfg.Registration != RegistrationOpen {
			err = errRedirectURI("open registration is off: this client's redirect URIs can no longer change")
		} else {
			n, err = p.registeredClient(md, via)
		}
	}
	if err == nil && n.Public != c.Public {
		err = errMetadata("token_endpoint_auth_method cannot change; register a new client")
	}
	if err != nil {
		p.auditRegistration(ctx, r, models.EventClientRegistrationUpdate, c.ID, "", err)
		return nil, err
	}
	old := c.RegistrationTokenHash
	c.Name, c.RedirectURIs, c.PostLogoutRedirectURIs, c.AllowedScopes = n.Name, n.RedirectURIs, n.PostLogoutRedirectURIs, n.AllowedScopes
	c.IDTokenAlg, c.JWKS = n.IDTokenAlg, n.JWKS
	// A client may ask to be held to PAR or DPoP, never to be let off:
	// the switch may be an admin's (RFC 7592 §2.2 lets the server keep
	// values other than those sent).
	c.RequirePAR = c.RequirePAR || n.RequirePAR
	c.RequireDPoP = c.RequireDPoP || n.RequireDPoP
	if c.PostLogoutRedirectURIs == nil {
		c.PostLogoutRedirectURIs = models.StringList{}
	}
	rat := models.NewRegistrationAccessToken(c)
	if err := p.db.ReplaceRegisteredClient(ctx, c, old); errors.Is(err, models.ErrInvalid) {
		err = errMetadata("%s", strings.TrimPrefix(err.Error(), models.ErrInvalid.Error()+": "))
		p.auditRegistration(ctx, r, models.EventClientRegistrationUpdate, c.ID, "", err)
		return nil, err
	} else if err != nil {
		return nil, registrationStoreError(err)
	}
	p.auditRegistration(ctx, r, models.EventClientRegistrationUpdate, c.ID, "", nil)
	return p.clientInformation(c, rat), nil
}

// handleRegisteredDelete is DELETE /oauth/register/{id} (RFC 7592 §2.3):
// 204, and the client, its tokens and its registration access token are
// gone.
func (p *Provider) handleRegisteredDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := p.managedClient(r)
	if err == nil {
		err = p.db.DeleteRegisteredClient(ctx, c.ID, c.RegistrationTokenHash)
		err = registrationStoreError(err)
	}
	if err != nil {
		p.answerRegistration(w, r, 0, nil, err)
		return
	}
	p.auditRegistration(ctx, r, models.EventClientRegistrationDelete, c.ID, "", nil)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// managedClient is the self-registered client of the path whose
// registration access token the request carries. Errors: 401
// invalid_token, or the storage error unchanged.
func (p *Provider) managedClient(r *http.Request) (*models.Client, error) {
	raw, _ := bearerToken(r)
	if !strings.HasPrefix(raw, models.RegistrationAccessTokenPrefix) {
		return nil, errRegistrationToken()
	}
	c, err := p.db.RegisteredClient(r.Context(), chi.URLParam(r, "id"), raw)
	return c, registrationStoreError(err)
}

// registrationStoreError makes "not found" (unknown client, wrong or
// already replaced token) a 401 and passes every other error unchanged.
func registrationStoreError(err error) error {
	if errors.Is(err, models.ErrNotFound) {
		return errRegistrationToken()
	}
	return err
}
