package oidc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// cryptoKeyName names the op crypto key in the secrets table. op encrypts
// authorization codes and opaque access tokens with it, so every instance
// must share it.
const cryptoKeyName = "op_crypto_key"

// maxTokenBody bounds token endpoint request bodies; real ones are < 4 KiB.
const maxTokenBody = 64 << 10

// Provider is Latchkey's OpenID Provider: the op handler plus what idp
// needs around it (the login callback URL, failing a request, key
// rotation).
type Provider struct {
	cfg       Config
	db        *models.DB
	storage   *Storage
	op        *op.Provider
	discovery []byte
	keysPath  string
	handler   http.Handler
}

// New loads (or on first start creates) the op crypto key and the signing
// keys, and builds the provider. It fails if the configuration is invalid
// or a stored key cannot be decrypted with sealer (wrong master key).
func New(ctx context.Context, cfg Config, db *models.DB, sealer *models.Sealer) (*Provider, error) {
	cfg.Defaults()
	if probs := cfg.Validate(); len(probs) > 0 {
		return nil, fmt.Errorf("oidc config: %s", strings.Join(probs, "; "))
	}
	if db == nil || sealer == nil {
		return nil, errors.New("oidc: database and sealer are required")
	}
	cryptoKey, err := loadCryptoKey(ctx, db, sealer)
	if err != nil {
		return nil, err
	}
	kr := newKeyring(db, sealer, cfg)
	if err := kr.ensure(ctx); err != nil {
		return nil, err
	}
	st := &Storage{db: db, cfg: cfg, keys: kr}
	algs := SigningAlgorithms()
	opCfg := &op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: cfg.Issuer + cfg.LoggedOutPath,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		AuthMethodPrivateKeyJWT:  true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          supportedScopes,
		SupportedClaims:          supportedClaims,
		DeviceAuthorization:      deviceConfig(cfg), // device.go
	}
	opts := []op.Option{
		op.WithAccessTokenKeySet(kr),
		op.WithIDTokenHintKeySet(kr),
		op.WithAccessTokenVerifierOpts(op.WithSupportedAccessTokenSigningAlgorithms(algs...)),
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms(algs...)),
		op.WithCORSOptions(&corsOptions),
	}
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	o, err := op.NewProvider(opCfg, st, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("build OpenID provider: %w", err)
	}
	p := &Provider{cfg: cfg, db: db, storage: st, op: o, keysPath: o.KeysEndpoint().Relative()}
	if p.discovery, err = p.buildDiscovery(ctx); err != nil {
		return nil, err
	}
	p.handler = p.newHandler()
	return p, nil
}

// corsOptions: the OIDC endpoints are called cross-origin by browser apps
// with bearer tokens, never with cookies, so any origin may call them but
// credentials are not allowed (op's default allows both).
var corsOptions = cors.Options{
	AllowedOrigins:   []string{"*"},
	AllowCredentials: false,
	AllowedMethods:   []string{http.MethodGet, http.MethodHead, http.MethodPost},
	AllowedHeaders:   []string{"Accept", "Accept-Language", "Authorization", "Content-Type"},
}

// supportedClaims are the claims Latchkey issues (discovery).
var supportedClaims = []string{
	"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash", "sid",
	"name", "preferred_username", "updated_at", "email", "email_verified", "groups",
}

func loadCryptoKey(ctx context.Context, db *models.DB, sealer *models.Sealer) ([32]byte, error) {
	var key [32]byte
	aad := []byte(cryptoKeyName)
	sealed, err := db.SecretValue(ctx, cryptoKeyName, func() ([]byte, error) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return sealer.Seal(k, aad), nil
	})
	if err != nil {
		return key, fmt.Errorf("load op crypto key: %w", err)
	}
	raw, err := sealer.Open(sealed, aad)
	if err != nil {
		return key, fmt.Errorf("op crypto key: %w", err)
	}
	if len(raw) != len(key) {
		return key, fmt.Errorf("op crypto key has %d bytes, want %d", len(raw), len(key))
	}
	copy(key[:], raw)
	return key, nil
}

// buildDiscovery precomputes the discovery document, advertising only what
// works: code flow with S256 PKCE, refresh tokens, client_secret_basic/post
// and none, RS256/ES256, no device flow, no request objects, no
// private_key_jwt.
func (p *Provider) buildDiscovery(ctx context.Context) ([]byte, error) {
	d := op.CreateDiscoveryConfig(op.ContextWithIssuer(ctx, p.cfg.Issuer), p.op, p.storage)
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFragment), string(oidc.ResponseModeFormPost)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode}
	d.CheckSessionIframe = ""
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone}
	d.TokenEndpointAuthSigningAlgValuesSupported = clientAssertionAlgs
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic}
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	d.RequestObjectSigningAlgValuesSupported = nil
	d.RequestParameterSupported = false
	d.RequestURIParameterSupported = false
	d.ClaimsParameterSupported = false
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	// The acr values sign-ins prove (passkeys.ACRPhishingResistant and
	// ACRPhishingResistantHardware; oidc does not import passkeys).
	d.ACRValuesSupported = []string{"phr", "phrh"}
	// Back-channel logout with sid (backchannel.go); no front-channel.
	d.BackChannelLogoutSupported = true
	d.BackChannelLogoutSessionSupported = true
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode discovery: %w", err)
	}
	return b, nil
}

// Handler serves the OIDC endpoints at op's default paths: discovery,
// /keys, /authorize, /authorize/callback, /oauth/token, /userinfo,
// /oauth/introspect, /revoke, /end_session (plus op's /healthz, /ready).
// Discovery and JWKS are served from precomputed bytes. The handler is
// built once; calling Handler is cheap.
func (p *Provider) Handler() http.Handler { return p.handler }

// DocumentPaths are the paths of the precomputed documents: discovery and
// JWKS.
func (p *Provider) DocumentPaths() []string {
	return []string{oidc.DiscoveryEndpoint, p.keysPath}
}

// Document returns the current bytes of the precomputed document at path
// (one of DocumentPaths) and its Cache-Control, or ok false for any other
// path. The bytes are shared: callers must not modify them. JWKS follows
// key rotation, also by another instance (keyring.maybeRefresh).
func (p *Provider) Document(ctx context.Context, path string) (body []byte, cacheControl string, ok bool) {
	switch path {
	case oidc.DiscoveryEndpoint:
		return p.discovery, "public, max-age=3600", true
	case p.keysPath:
		return p.storage.keys.jwks(ctx), "public, max-age=300", true
	}
	return nil, "", false
}

func (p *Provider) newHandler() http.Handler {
	tokenPath := p.op.TokenEndpoint().Relative()
	userinfoPath := p.op.UserinfoEndpoint().Relative()
	noStore := map[string]bool{
		tokenPath: true, userinfoPath: true,
		p.op.IntrospectionEndpoint().Relative(): true, p.op.RevocationEndpoint().Relative(): true,
		p.op.DeviceAuthorizationEndpoint().Relative(): true,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			if body, cacheControl, ok := p.Document(r.Context(), path); ok {
				serveJSON(w, body, cacheControl)
				return
			}
		}
		if noStore[path] {
			// RFC 6749 §5.1: token responses must not be cached.
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
		}
		switch path {
		case tokenPath:
			var ok bool
			if r, ok = p.withTokenClient(w, r); !ok {
				return
			}
			if r = withDeviceGrantHolder(r); p.serveOwnGrant(w, r) { // device.go, clientcredentials.go
				return
			}
			ctx, ts := withTokenState(r.Context()) // attoken.go: one signature per JWT
			tw := &tokenWriter{ResponseWriter: w}
			p.op.ServeHTTP(tw, r.WithContext(ctx))
			tw.flush(p, ts)
			return
		case userinfoPath:
			w = &userinfoWriter{ResponseWriter: w}
		case p.op.DeviceAuthorizationEndpoint().Relative():
			var ok bool
			if r, ok = p.withTokenClient(w, r); !ok {
				return
			}
			if r.ParseForm() == nil {
				if err := p.authenticateDeviceClient(r); err != nil {
					op.RequestError(w, r, err, nil)
					return
				}
			}
		}
		p.op.ServeHTTP(w, r)
	})
}

func serveJSON(w http.ResponseWriter, body []byte, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheControl)
	h.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// withTokenClient finds the client of a token request (Basic auth user or
// form client_id) and puts it in the context, so SigningKey uses the
// client's ID token algorithm. The body is read (at most maxTokenBody) and
// restored for op.
func (p *Provider) withTokenClient(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	clientID := ""
	if id, _, ok := r.BasicAuth(); ok {
		clientID, _ = url.QueryUnescape(id)
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenBody+1))
		_ = r.Body.Close()
		if err != nil || len(body) > maxTokenBody {
			op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("request body too large or unreadable"), nil)
			return r, false
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if clientID == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			if vals, err := url.ParseQuery(string(body)); err == nil {
				clientID = vals.Get("client_id")
			}
		}
	}
	if clientID == "" {
		clientID = r.URL.Query().Get("client_id")
	}
	if a := assertionOf(r); a != "" {
		id, err := p.useClientAssertion(r.Context(), a)
		if err != nil {
			op.RequestError(w, r, err, nil)
			return r, false
		}
		if clientID == "" {
			clientID = id
		}
	}
	if clientID == "" {
		return r, true
	}
	c, err := p.db.ClientByID(r.Context(), clientID)
	if err != nil {
		return r, true // op reports the unknown client
	}
	return r.WithContext(withClient(r.Context(), c)), true
}

// userinfoWriter turns op's 403 for an invalid access token into 401 with
// WWW-Authenticate (RFC 6750 §3.1).
type userinfoWriter struct{ http.ResponseWriter }

func (u *userinfoWriter) WriteHeader(code int) {
	if code == http.StatusForbidden || code == http.StatusUnauthorized {
		u.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		code = http.StatusUnauthorized
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *userinfoWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// CallbackURL is the absolute URL idp redirects to after a successful
// sign-in for authRequestID (op's /authorize/callback).
func (p *Provider) CallbackURL(ctx context.Context, authRequestID string) string {
	return op.AuthCallbackURL(p.op)(op.ContextWithIssuer(ctx, p.cfg.Issuer), authRequestID)
}

// CompleteWithCode records the sign-in c on ar and issues its
// authorization code in the same UPDATE, records the session's new client
// (back-channel logout, backchannel.go), and returns where the browser
// takes the code: the client's redirect URI with code and state (RFC 6749
// §4.1.2), built by op exactly as its callback endpoint would build it.
// The browser thus goes from the sign-in straight to the client instead of
// through /authorize/callback: one round trip, two reads and a commit less
// per sign-in. The writes go through ctx, so inside models.InTx they
// commit with the caller's. response_mode=form_post needs a page that posts
// the response (OAuth 2.0 Form Post Response Mode §2): for it, and while
// consent is pending, only the sign-in is recorded and the callback URL is
// returned, where op's endpoint decides.
func (p *Provider) CompleteWithCode(ctx context.Context, ar *models.AuthRequest, c models.Completion) (string, error) {
	if c.ConsentPending || oidc.ResponseType(ar.ResponseType) != oidc.ResponseTypeCode || oidc.ResponseMode(ar.ResponseMode) == oidc.ResponseModeFormPost {
		if err := p.db.CompleteAuthRequest(ctx, ar.ID, c); err != nil {
			return "", err
		}
		return p.CallbackURL(ctx, ar.ID), nil
	}
	code, err := op.BuildAuthRequestCode(&authRequest{m: ar}, p.op.Crypto())
	if err != nil {
		return "", err
	}
	c.CodeHash, c.CodeTTL = models.HashToken(code), p.cfg.CodeTTL
	if err := p.db.CompleteAuthRequest(ctx, ar.ID, c); err != nil {
		return "", err
	}
	if err := p.db.RecordSessionClient(ctx, c.SessionID, ar.ClientID); err != nil {
		return "", err
	}
	return op.AuthResponseURL(ar.RedirectURI, oidc.ResponseType(ar.ResponseType), oidc.ResponseMode(ar.ResponseMode),
		&op.CodeResponseType{Code: code, State: ar.State}, p.op.Encoder())
}

// FailKind is the OAuth error a failed sign-in ends with.
type FailKind int

// Failure kinds (OpenID Connect Core §3.1.2.6).
const (
	LoginRequired FailKind = iota
	AccessDenied
	InteractionRequired
	ServerError
	ConsentRequired
)

func (k FailKind) oauthError() *oidc.Error {
	switch k {
	case LoginRequired:
		return oidc.ErrLoginRequired()
	case AccessDenied:
		return oidc.ErrAccessDenied()
	case InteractionRequired:
		return oidc.ErrInteractionRequired()
	case ConsentRequired:
		return &oidc.Error{ErrorType: "consent_required"} // OIDC Core §3.1.2.6; op has no constructor
	}
	return oidc.ErrServerError()
}

// FailAuthRequest ends an auth request with an OAuth error. op decides
// between redirecting to the client's validated redirect URI and showing
// an error; an unknown or expired request gets a plain 400. The request is
// deleted so it cannot be completed afterwards.
func (p *Provider) FailAuthRequest(w http.ResponseWriter, r *http.Request, authRequestID string, kind FailKind, description string) {
	w.Header().Set("Cache-Control", "no-store")
	ar, err := p.storage.AuthRequestByID(r.Context(), authRequestID)
	if err != nil {
		var oe *oidc.Error
		if !errors.As(err, &oe) {
			logError(r.Context(), "load auth request", err, "auth_request_id", authRequestID)
		}
		http.Error(w, "The sign-in request is unknown or has expired.", http.StatusBadRequest)
		return
	}
	e := kind.oauthError()
	if description != "" {
		e = e.WithDescription("%s", description)
	}
	if err := p.db.DeleteAuthRequest(r.Context(), authRequestID); err != nil {
		logError(r.Context(), "delete failed auth request", err, "auth_request_id", authRequestID)
	}
	op.AuthRequestError(w, r, ar, e, p.op)
}

// RotateKeys creates new RS256 and ES256 keys that sign from now on. The
// previous keys retire now and stay in JWKS for the longest access or ID
// token lifetime (server or any client setting), then expire.
func (p *Provider) RotateKeys(ctx context.Context) error {
	lifetime, err := p.tokenLifetime(ctx)
	if err != nil {
		return err
	}
	created, retired, err := p.storage.keys.rotate(ctx, lifetime)
	if err != nil {
		return fmt.Errorf("rotate signing keys: %w", err)
	}
	actor, _ := ctx.Value(actorKey{}).(string)
	p.storage.audit(ctx, &models.AuditEvent{
		Type: models.EventKeyRotated, Success: true, ActorID: actor,
		Detail: models.JSONMap{"created": created, "retired": retired, "manual": true},
	})
	return nil
}

type actorKey struct{}

// WithActor names who asks for an operation (an admin's user ID, "api:ID",
// "cli") so the audit event the provider writes carries it.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// SigningAlgorithms lists the ID token signing algorithms clients may
// choose (models.Client.IDTokenAlg).
func SigningAlgorithms() []string {
	out := make([]string, len(signingAlgs))
	for i, a := range signingAlgs {
		out[i] = string(a)
	}
	return out
}
