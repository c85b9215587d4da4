package oidc

import (
	"github.com/latchkey-idp/latchkey/internal/outbound"

	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// cryptoKeyName names the op crypto key in the secrets table. op encrypts
// authorization codes and opaque access tokens with it, so every instance
// must share it.
const cryptoKeyName = "op_crypto_key"

// Provider is Latchkey's OpenID Provider: the op handler plus what idp
// needs around it (the login callback URL, failing a request, key
// rotation).
type Provider struct {
	cfg       Config
	db        *models.DB
	storage   *Storage
	op        *op.Provider
	authz     *authorizer // op with RFC 9207 iss on authorization responses (iss.go)
	discovery []byte
	keysPath  string
	server    *server // server.go
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
	st := &Storage{db: db, cfg: cfg, keys: kr, tokens: newTokenKeys(cryptoKey), clients: newClientCache(cfg.ClientCacheSize),
		outbound: outbound.NewClient(cfg.Outbound, outbound.Options{})}
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
	}
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	o, err := op.NewProvider(opCfg, st, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("build OpenID provider: %w", err)
	}
	enc := issEncoder{inner: o.Encoder(), issuer: cfg.Issuer}
	p := &Provider{cfg: cfg, db: db, storage: st, op: o, authz: &authorizer{Provider: o, enc: enc}, keysPath: o.KeysEndpoint().Relative()}
	if p.discovery, err = p.buildDiscovery(ctx); err != nil {
		return nil, err
	}
	p.server = &server{LegacyServer: op.NewLegacyServer(p.authz, o.Endpoints()), p: p}
	// What op.RegisterLegacyServer does (the issuer interceptor, op's
	// callback under /authorize), in an order that lets us add routes:
	// chi takes middleware only before the first route.
	p.handler = op.RegisterServer(p.server, p.server.Endpoints(),
		op.WithServerCORSOptions(&corsOptions), op.WithEncoder(enc),
		op.WithHTTPMiddleware(p.tokenEndpointHygiene, p.dpopNonceHeaders, p.dpopUserinfo, p.userinfoChallenge, // adapters.go, dpop.go
			op.NewIssuerInterceptor(o.IssuerFromRequest).Handler),
		op.WithSetRouter(func(r chi.Router) {
			r.HandleFunc(o.AuthorizationEndpoint().Relative()+"/callback", p.authorizeCallback) // formpost.go
			p.extraRoutes(r)
		}))
	return p, nil
}

// corsOptions: the OIDC endpoints are called cross-origin by browser apps
// with bearer tokens, never with cookies, so any origin may call them but
// credentials are not allowed (op's default allows both).
var corsOptions = cors.Options{
	AllowedOrigins:   []string{"*"},
	AllowCredentials: false,
	AllowedMethods:   []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete}, // PUT, DELETE: RFC 7592 (registration.go)
	AllowedHeaders:   []string{"Accept", "Accept-Language", "Authorization", "Content-Type", "DPoP"},
	ExposedHeaders:   []string{"DPoP-Nonce", "WWW-Authenticate"}, // RFC 9449 §8, §7.1
}

// supportedClaims are the claims Latchkey issues (discovery).
var supportedClaims = []string{
	"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash", "sid",
	"name", "preferred_username", "updated_at", "locale", "email", "email_verified", "groups",
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
// works: code flow with S256 PKCE, refresh, client credentials and device
// grants, client_secret_basic/post, private_key_jwt and none, RS256/ES256,
// signed request objects (jar.go) and PAR (par.go) but no request_uri of
// the client's own.
func (p *Provider) buildDiscovery(ctx context.Context) ([]byte, error) {
	d := op.CreateDiscoveryConfig(op.ContextWithIssuer(ctx, p.cfg.Issuer), p.op, p.storage)
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFragment), string(oidc.ResponseModeFormPost)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode}
	d.CheckSessionIframe = ""
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone}
	d.TokenEndpointAuthSigningAlgValuesSupported = clientAssertionAlgs
	// Introspect (server.go) takes what op parses: Basic, the form, or a
	// private_key_jwt assertion (RFC 8414 §2).
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT}
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = clientAssertionAlgs
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	d.RequestObjectSigningAlgValuesSupported = requestObjectAlgs // jar.go
	d.RequestParameterSupported = true
	d.RequestURIParameterSupported = false
	d.ClaimsParameterSupported = true // claimsparam.go
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	// The acr values sign-ins prove (passkeys.ACRPhishingResistant and
	// ACRPhishingResistantHardware; oidc does not import passkeys).
	d.ACRValuesSupported = []string{"phr", "phrh"}
	// Back-channel logout with sid (backchannel.go); no front-channel.
	d.BackChannelLogoutSupported = true
	d.BackChannelLogoutSessionSupported = true
	if p.RegistrationEnabled() {
		d.RegistrationEndpoint = p.cfg.Issuer + RegistrationEndpoint // RFC 8414 §2, registration.go
	}
	b, err := json.Marshal(metadata{
		DiscoveryConfiguration:                     d,
		AuthorizationResponseIssParameterSupported: true, // iss.go
		PushedAuthorizationRequestEndpoint:         p.cfg.Issuer + PAREndpoint,
		RequirePushedAuthorizationRequests:         p.cfg.RequirePAR,
		DPoPSigningAlgValuesSupported:              DPoPAlgorithms(), // dpop.go
	})
	if err != nil {
		return nil, fmt.Errorf("encode discovery: %w", err)
	}
	return b, nil
}

// metadata is the discovery document: op's fields and those op's type
// does not have. The same document answers RFC 8414 authorization server
// metadata (AuthorizationServerMetadataPath).
type metadata struct {
	*oidc.DiscoveryConfiguration
	// RFC 9207 §3.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
	// RFC 9126 §5.
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests"`
	// RFC 9449 §5.1.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

// AuthorizationServerMetadataPath is where RFC 8414 §3 puts the
// authorization server metadata of an issuer without a path.
const AuthorizationServerMetadataPath = "/.well-known/oauth-authorization-server"

// extraRoutes adds the endpoints op does not have to op's router: RFC 8414
// metadata and PAR (par.go).
func (p *Provider) extraRoutes(r chi.Router) {
	r.Get(AuthorizationServerMetadataPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(p.discovery)
	})
	r.Post(PAREndpoint, p.handlePAR)
	p.registrationRoutes(r) // registration.go
}

// Handler serves the OIDC endpoints at op's default paths: discovery,
// /keys, /authorize, /authorize/callback, /oauth/token, /userinfo,
// /oauth/introspect, /revoke, /end_session, /device_authorization (plus
// op's /healthz, /ready). It is op's handler for Latchkey's server
// (server.go). Discovery and JWKS are served from precomputed bytes. The
// handler is built once; calling Handler is cheap.
func (p *Provider) Handler() http.Handler { return p.handler }

// DocumentPaths are the paths of the precomputed documents: discovery and
// JWKS.
func (p *Provider) DocumentPaths() []string {
	return []string{oidc.DiscoveryEndpoint, AuthorizationServerMetadataPath, p.keysPath}
}

// Document returns the current bytes of the precomputed document at path
// (one of DocumentPaths) and its Cache-Control, or ok false for any other
// path. The bytes are shared: callers must not modify them. JWKS follows
// key rotation, also by another instance (keyring.maybeRefresh).
func (p *Provider) Document(ctx context.Context, path string) (body []byte, cacheControl string, ok bool) {
	switch path {
	case oidc.DiscoveryEndpoint, AuthorizationServerMetadataPath:
		return p.discovery, "public, max-age=3600", true
	case p.keysPath:
		return p.storage.keys.jwks(ctx), "public, max-age=300", true
	}
	return nil, "", false
}

// CallbackURL is the absolute URL idp redirects to after a successful
// sign-in for authRequestID (op's /authorize/callback).
func (p *Provider) CallbackURL(ctx context.Context, authRequestID string) string {
	return op.AuthCallbackURL(p.op)(op.ContextWithIssuer(ctx, p.cfg.Issuer), authRequestID)
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
	if a, ok := ar.(*authRequest); ok && a.GetResponseMode() == oidc.ResponseModeFormPost && a.GetRedirectURI() != "" {
		// OAuth 2.0 Form Post Response Mode §2: every authorization
		// response, errors included, is POSTed to the redirect URI (op's
		// AuthRequestError would send it as a GET query). The caller sets
		// the CSP that lets the form_post page submit itself.
		e.State = a.GetState()
		if err := p.writeFormPostError(w, r, a, e); err != nil { // formpost.go
			logError(r.Context(), "form_post error response", err, "auth_request_id", authRequestID)
		}
		return
	}
	op.AuthRequestError(w, r, ar, e, p.authz)
}

// RotateKeys creates new RS256 and ES256 keys that sign from now on. The
// previous keys retire now and stay in JWKS for the longest access or ID
// token lifetime (server or any client setting), then expire. actor names
// who asked (an admin's user ID, "api:ID", "cli") for the audit event.
func (p *Provider) RotateKeys(ctx context.Context, actor string) error {
	lifetime, err := p.tokenLifetime(ctx)
	if err != nil {
		return err
	}
	created, retired, err := p.storage.keys.rotate(ctx, lifetime)
	if err != nil {
		return fmt.Errorf("rotate signing keys: %w", err)
	}
	p.storage.audit(ctx, &models.AuditEvent{
		Type: models.EventKeyRotated, Success: true, ActorID: actor,
		Detail: models.JSONMap{"created": created, "retired": retired, "manual": true},
	})
	return nil
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
