package models

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Access token formats.
const (
	AccessTokenJWT    = "jwt"
	AccessTokenOpaque = "opaque"
)

// What a client's ID tokens carry (Client.IDTokenClaims).
const (
	// IDTokenClaimsScoped: the claims of the granted profile, email and
	// groups scopes, as in userinfo (the default).
	IDTokenClaimsScoped = "scoped"
	// IDTokenClaimsMinimal: only sub and the protocol claims; the user's
	// claims come from userinfo.
	IDTokenClaimsMinimal = "minimal"
)

// CheckIDTokenClaims normalises an id_token_claims value: "" is
// IDTokenClaimsScoped. Errors: ErrInvalid for anything else.
func CheckIDTokenClaims(v string) (string, error) {
	switch v {
	case "", IDTokenClaimsScoped:
		return IDTokenClaimsScoped, nil
	case IDTokenClaimsMinimal:
		return v, nil
	}
	return "", fmt.Errorf("%w: id_token_claims must be %q or %q, not %q", ErrInvalid, IDTokenClaimsScoped, IDTokenClaimsMinimal, v)
}

// Client is an OIDC relying party. Confidential clients have a secret, of
// which only the SHA-256 is stored (secrets are random 256-bit values we
// generate, so no slow hash is needed).
type Client struct {
	ID                     string `gorm:"primaryKey"`
	SecretHash             []byte
	Name                   string
	Public                 bool
	RedirectURIs           StringList `gorm:"column:redirect_uris"`
	PostLogoutRedirectURIs StringList `gorm:"column:post_logout_redirect_uris"`
	AllowedScopes          StringList
	// AllowedGroups restricts sign-in to members of these groups (names);
	// empty lets every user in.
	AllowedGroups     StringList
	IDTokenAlg        string
	AccessTokenFormat string
	AccessTokenTTL    int64 // seconds; 0 means the server default
	IDTokenTTL        int64
	RefreshTokenTTL   int64
	Builtin           bool
	// Issue 5: BackchannelLogoutURI receives logout tokens ("" none);
	// SkipConsent marks a first-party app (no consent screen);
	// AccessTokenAudience lists the audiences the client credentials grant
	// may issue for (the first is the default); JWKS is the client's public
	// JWK Set for private_key_jwt ("" none; when set, the secret is refused).
	BackchannelLogoutURI string
	SkipConsent          bool
	AccessTokenAudience  StringList
	JWKS                 string `gorm:"column:jwks"`
	// IDTokenClaims is IDTokenClaimsScoped ("" means it) or
	// IDTokenClaimsMinimal: whether the ID token carries the claims of the
	// granted scopes or only the protocol claims.
	IDTokenClaims string
	// RequirePAR refuses the client's authorization requests that do not
	// come through the PAR endpoint (RFC 9126 §6).
	RequirePAR bool `gorm:"column:require_par"`
	// RequirePKCE makes a confidential client send a PKCE challenge with
	// every authorization request; public clients always must (see
	// NeedsPKCE).
	RequirePKCE bool `gorm:"column:require_pkce"`
	// RequireDPoP refuses the client's token requests without a DPoP proof
	// (RFC 9449 §5), so that each of its access tokens is key-bound.
	RequireDPoP bool `gorm:"column:require_dpop"`
	// Issue 22, the app launcher: LaunchURL is where the account page's
	// launcher sends a user ("" keeps the client off the launcher);
	// LogoURL is where its logo was fetched from (SetClientLogo stores the
	// image; LogoType is its content type, "" when there is none, and is
	// written only by SetClientLogo).
	LaunchURL string
	LogoURL   string
	LogoType  string `gorm:"<-:false"`
	// Profile is the client's security profile: "" none, or ProfileFAPI2
	// (CheckProfile).
	Profile string `gorm:"column:profile"`
	// RegisteredBy says how the client was made: "" by an admin,
	// RegisteredOpen by open dynamic registration (RFC 7591), otherwise
	// the ID of the initial access token it registered with.
	RegisteredBy string `gorm:"column:registered_by"`
	// RegistrationTokenHash is the SHA-256 of the client's registration
	// access token (RFC 7592 §1); nil for admin-made clients.
	RegistrationTokenHash []byte `gorm:"column:registration_token_hash"`
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// RegisteredOpen is Client.RegisteredBy of a client that registered
// itself without an initial access token.
const RegisteredOpen = "open"

// SelfRegistered says whether the client registered itself (RFC 7591)
// rather than being made by an admin.
func (c *Client) SelfRegistered() bool { return c.RegisteredBy != "" }

// NeedsPKCE says whether the client's authorization requests must carry
// an S256 code challenge: always for public clients, which have no secret
// to bind the code to (RFC 9700 §2.1.1, OAuth 2.1 §4.1.1), and for
// confidential clients whose admin asked for it.
func (c *Client) NeedsPKCE() bool { return c.Public || c.RequirePKCE || c.FAPI2() }

// NeedsPAR says whether the client's authorization requests must come
// through the PAR endpoint: asked for, or under the FAPI 2.0 profile.
func (c *Client) NeedsPAR() bool { return c.RequirePAR || c.FAPI2() }

// NeedsDPoP says whether the client's token requests must carry a DPoP
// proof: asked for, or under the FAPI 2.0 profile.
func (c *Client) NeedsDPoP() bool { return c.RequireDPoP || c.FAPI2() }

// CreateClient inserts c. For a confidential client it generates the secret
// and returns it (shown once); for a public client the secret is "".
func (db *ClientStore) CreateClient(ctx context.Context, c *Client) (secret string, err error) {
	if c.ID == "" {
		c.ID = NewUUID()
	}
	if c.Name == "" {
		return "", fmt.Errorf("%w: client name is required", ErrInvalid)
	}
	if len(c.RedirectURIs) == 0 {
		return "", fmt.Errorf("%w: at least one redirect URI is required", ErrInvalid)
	}
	if c.IDTokenAlg == "" {
		c.IDTokenAlg = "RS256"
	}
	if c.IDTokenAlg != "RS256" && c.IDTokenAlg != "ES256" {
		return "", fmt.Errorf("%w: ID token algorithm must be RS256 or ES256", ErrInvalid)
	}
	if c.AccessTokenFormat == "" {
		c.AccessTokenFormat = AccessTokenJWT
	}
	if c.AccessTokenFormat != AccessTokenJWT && c.AccessTokenFormat != AccessTokenOpaque {
		return "", fmt.Errorf("%w: access token format must be jwt or opaque", ErrInvalid)
	}
	if c.IDTokenClaims, err = CheckIDTokenClaims(c.IDTokenClaims); err != nil {
		return "", err
	}
	if err := c.CheckProfile(); err != nil {
		return "", err
	}
	if c.PostLogoutRedirectURIs == nil {
		c.PostLogoutRedirectURIs = StringList{}
	}
	if c.AllowedScopes == nil {
		c.AllowedScopes = StringList{}
	}
	if c.AllowedGroups == nil {
		c.AllowedGroups = StringList{}
	}
	if c.AccessTokenAudience == nil {
		c.AccessTokenAudience = StringList{}
	}
	if !c.Public && !c.SelfRegistered() { // registered clients use private_key_jwt (registration.go)
		secret = NewToken()
		c.SecretHash = HashToken(secret)
	}
	if err := db.ctx(ctx).Create(c).Error; err != nil {
		return "", fmt.Errorf("create client: %w", translate(err))
	}
	return secret, nil
}

// ClientByID loads a client.
func (db *ClientStore) ClientByID(ctx context.Context, id string) (*Client, error) {
	var c Client
	if err := scanClient(db.rawRow(ctx, db.rawPool(false), "SELECT "+clientColumns+" FROM clients WHERE id = ?", id), &c); err != nil { // raw.go
		return nil, fmt.Errorf("load client %q: %w", id, db.rawErr(err))
	}
	return &c, nil
}

// LongestClientTokenTTL is the longest access or ID token lifetime any
// client sets for itself (0 when none sets one).
func (db *ClientStore) LongestClientTokenTTL(ctx context.Context) (time.Duration, error) {
	var secs sql.NullInt64
	err := db.ctx(ctx).Raw("SELECT MAX(CASE WHEN access_token_ttl > id_token_ttl THEN access_token_ttl ELSE id_token_ttl END) FROM clients").Row().Scan(&secs)
	if err != nil {
		return 0, translate(err)
	}
	return time.Duration(secs.Int64) * time.Second, nil
}

// ClientsVersion changes whenever a client is changed or deleted through
// this DB (SaveClient, RotateClientSecret, DeleteClient): a cache of
// clients in this process drops what it holds when it moves.
func (db *ClientStore) ClientsVersion() int64 { return db.clientsChanged.Load() }

// ListClients returns all clients ordered by name.
func (db *ClientStore) ListClients(ctx context.Context) ([]Client, error) {
	var cs []Client
	return cs, translate(db.ctx(ctx).Order("name").Find(&cs).Error)
}

// SaveClient updates every column of an existing client.
func (db *ClientStore) SaveClient(ctx context.Context, c *Client) error {
	var err error
	if c.IDTokenClaims, err = CheckIDTokenClaims(c.IDTokenClaims); err != nil {
		return err
	}
	if err := c.CheckProfile(); err != nil {
		return err
	}
	res := db.ctx(ctx).Model(&Client{}).Where("id = ?", c.ID).Select("*").Omit("id", "created_at").Updates(c)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("client %q: %w", c.ID, ErrNotFound)
	}
	db.clientsChanged.Add(1)
	return nil
}

// RotateClientSecret replaces a confidential client's secret and returns the
// new one.
func (db *ClientStore) RotateClientSecret(ctx context.Context, id string) (string, error) {
	secret := NewToken()
	res := db.ctx(ctx).Model(&Client{}).Where("id = ? AND public = ?", id, false).
		Updates(map[string]any{"secret_hash": HashToken(secret), "updated_at": db.Now()})
	if res.Error != nil {
		return "", translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return "", fmt.Errorf("confidential client %q: %w", id, ErrNotFound)
	}
	db.clientsChanged.Add(1)
	return secret, nil
}

// CheckSecret reports, in constant time, whether secret is the client's.
func (c *Client) CheckSecret(secret string) bool {
	if c.Public || len(c.SecretHash) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(c.SecretHash, HashToken(secret)) == 1
}

// CheckRedirectURI refuses redirect and post-logout URIs that cannot be
// matched or used safely. They must be absolute and carry no fragment
// (RFC 6749 §3.1.2); http(s) URIs need a host; schemes that run or embed
// content in the browser instead of reaching an application are refused, as
// a code sent there leaks (RFC 9700 §4.1.3). Private-use schemes of native
// apps are allowed (RFC 8252 §7.1). http is allowed for any host so that
// development set-ups work; production clients should register https.
func CheckRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || !u.IsAbs() {
		return fmt.Errorf("%w: redirect URI %q must be an absolute URI", ErrInvalid, raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%w: redirect URI %q must not contain a fragment", ErrInvalid, raw)
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme == "http" || scheme == "https") && u.Host == "" {
		return fmt.Errorf("%w: redirect URI %q has no host", ErrInvalid, raw)
	}
	switch scheme {
	case "javascript", "data", "vbscript", "file", "about", "blob":
		return fmt.Errorf("%w: redirect URI %q uses the %s: scheme, which cannot receive a code safely", ErrInvalid, raw, scheme)
	}
	return nil
}
