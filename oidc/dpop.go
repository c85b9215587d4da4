package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// DPoP, Demonstrating Proof of Possession (RFC 9449). op v3.52.0 has
// the proof's claims and the thumbprint (oidc.DPoPProofClaims,
// oidc.JWKThumbprint, for OpenID Connect Key Binding on the client side)
// but checks no proof, so Latchkey does it here:
//
//   - checkDPoPProof checks a proof (RFC 9449 §4.3) and usedDPoPProof
//     spends its jti in the database (dpop_proofs), so a proof is used once
//     across every instance (§11.1);
//   - the token endpoint (server.go) binds the access token to the proof's
//     key: its ID carries the thumbprint (tokenid.go), a JWT access token
//     the cnf.jkt claim (§6.1), and token_type is DPoP (§5); a public
//     client's refresh tokens are bound to the key (§5, models.Grant);
//   - dpop_jkt at /authorize and PAR binds the code (§10, server.go, par.go);
//   - userinfo takes "Authorization: DPoP" with a proof whose ath is the
//     token's hash, and refuses a bound token sent as Bearer (§7,
//     dpopUserinfo); introspection answers cnf.jkt (§6.2);
//   - dpop_jkt or a proof at the device authorization endpoint binds the
//     device code (server.go DeviceAuthorization); a bound code or device
//     code is checked against the token request's key before it is spent
//     (models.RedeemBoundAuthCode, PollDeviceAuthorization);
//   - server nonces (§8) are a MAC of a time window under a key derived
//     from the op crypto key (which the master key seals): every instance
//     makes and accepts the same ones and none is stored.

// dpopAlgs are the proof algorithms accepted: asymmetric only, never
// none or HS* (RFC 9449 §4.3 check 5).
var dpopAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256, jose.EdDSA}

// DPoPAlgorithms are the proof algorithms accepted, for discovery
// (dpop_signing_alg_values_supported, RFC 9449 §5.1).
func DPoPAlgorithms() []string {
	out := make([]string, len(dpopAlgs))
	for i, a := range dpopAlgs {
		out[i] = string(a)
	}
	return out
}

const (
	// dpopMaxAge is how long after its iat a proof is accepted; the jti
	// is remembered that long (RFC 9449 §11.1).
	dpopMaxAge = 5 * time.Minute
	// dpopMaxSkew is how far in the future an iat may be (clock skew).
	dpopMaxSkew = 30 * time.Second
	// dpopNonceWindow is how long a server nonce is current; the previous
	// window's nonce is accepted too.
	dpopNonceWindow = 5 * time.Minute
	// maxDPoPProof bounds the proof's size (a 4096-bit RSA key and its
	// signature fit in about 2 KiB).
	maxDPoPProof = 8 << 10
	// dpopHeader carries the proof; dpopNonceHeader the server nonce.
	dpopHeader      = "DPoP"
	dpopNonceHeader = "DPoP-Nonce"
)

// errInvalidDPoPProof is RFC 9449 §5's error for a proof that is missing
// where required, malformed, or fails a check.
func errInvalidDPoPProof(description string) *oidc.Error {
	return (&oidc.Error{ErrorType: "invalid_dpop_proof"}).WithDescription("%s", description)
}

// errUseDPoPNonce asks the client to retry with the server nonce of the
// DPoP-Nonce header (RFC 9449 §8).
func errUseDPoPNonce() *oidc.Error {
	return (&oidc.Error{ErrorType: "use_dpop_nonce"}).WithDescription("the DPoP proof must carry the server nonce from the DPoP-Nonce header")
}

// dpopProof is a proof that passed checkDPoPProof.
type dpopProof struct {
	jkt     string // RFC 7638 thumbprint of its key, base64url
	alg     string // its JWS algorithm
	jtiHash []byte
	expires time.Time // when its jti may be forgotten
}

// dpopClaims are the proof's claims (RFC 9449 §4.2).
type dpopClaims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"`
	ATH   string          `json:"ath"`
	Nonce string          `json:"nonce"`
}

// checkDPoPProof checks the DPoP proof of a request to endpoint (the
// absolute URL without query, RFC 9449 §4.3 check 9) sent with method:
// nil and no error when the request has none. accessToken is the token
// presented with it at a resource endpoint, whose hash the proof's ath
// must be (check 11); "" at the token and PAR endpoints. It stores
// nothing (usedDPoPProof spends the jti). Errors: invalid_dpop_proof,
// use_dpop_nonce.
func (p *Provider) checkDPoPProof(h http.Header, method, endpoint, accessToken string) (*dpopProof, error) {
	values := h.Values(dpopHeader)
	switch {
	case len(values) == 0:
		return nil, nil
	case len(values) > 1: // check 1
		return nil, errInvalidDPoPProof("a request carries at most one DPoP header")
	case len(values[0]) > maxDPoPProof:
		return nil, errInvalidDPoPProof("the DPoP proof is too large")
	}
	jws, err := jose.ParseSignedCompact(values[0], dpopAlgs) // checks 2, 3, 5: a JWS of an asymmetric algorithm
	if err != nil {
		return nil, errInvalidDPoPProof("the DPoP proof is not a JWT signed with " + strings.Join(DPoPAlgorithms(), ", ")).WithParent(err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errInvalidDPoPProof("the DPoP proof must have one signature")
	}
	hdr := jws.Signatures[0].Protected
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" { // check 4
		return nil, errInvalidDPoPProof(`the DPoP proof's typ must be "dpop+jwt"`)
	}
	jwk := hdr.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() { // check 7: a public key, never a private one
		return nil, errInvalidDPoPProof("the DPoP proof's jwk header must be a public key")
	}
	if err := oidc.ValidateDPoPKeyStrength(jwk.Key); err != nil {
		return nil, errInvalidDPoPProof("the DPoP proof's key is too weak").WithParent(err)
	}
	payload, err := jws.Verify(jwk) // check 6
	if err != nil {
		return nil, errInvalidDPoPProof("the DPoP proof's signature does not verify with its jwk").WithParent(err)
	}
	var c dpopClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errInvalidDPoPProof("the DPoP proof's claims are not a JSON object").WithParent(err)
	}
	var iat int64
	if json.Unmarshal(c.IAT, &iat) != nil || c.JTI == "" || len(c.JTI) > 256 || c.HTM == "" || c.HTU == "" { // check 8
		return nil, errInvalidDPoPProof("the DPoP proof needs jti, htm, htu and a numeric iat")
	}
	if c.HTM != method { // check 8
		return nil, errInvalidDPoPProof("the DPoP proof's htm does not match the request method")
	}
	if !sameHTU(c.HTU, endpoint) { // check 9
		return nil, errInvalidDPoPProof("the DPoP proof's htu does not match the request URL")
	}
	now := p.storage.now()
	issued := time.Unix(iat, 0)
	if issued.Before(now.Add(-dpopMaxAge)) || issued.After(now.Add(dpopMaxSkew)) { // check 11
		return nil, errInvalidDPoPProof("the DPoP proof's iat is outside the accepted window")
	}
	if c.Nonce != "" || p.cfg.DPoPNonce { // check 10
		if !p.validDPoPNonce(c.Nonce, now) {
			return nil, errUseDPoPNonce()
		}
	}
	if accessToken != "" { // check 12
		sum := sha256.Sum256([]byte(accessToken))
		if subtle.ConstantTimeCompare([]byte(c.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
			return nil, errInvalidDPoPProof("the DPoP proof's ath is not the hash of the access token")
		}
	} else if c.ATH != "" {
		return nil, errInvalidDPoPProof("the DPoP proof carries ath but no access token was presented")
	}
	jkt, err := oidc.JWKThumbprint(jwk)
	if err != nil {
		return nil, errInvalidDPoPProof("the DPoP proof's key has no thumbprint").WithParent(err)
	}
	jti := sha256.Sum256([]byte(jkt + "." + c.JTI))
	return &dpopProof{jkt: jkt, alg: hdr.Algorithm, jtiHash: jti[:], expires: issued.Add(dpopMaxAge)}, nil
}

// sameHTU compares a proof's htu with the endpoint's URL without the
// query and fragment (RFC 9449 §4.3 check 9), the scheme and host
// case-insensitively (RFC 3986 §6.2.2.1).
func sameHTU(htu, endpoint string) bool {
	u, err := url.Parse(htu)
	e, err2 := url.Parse(endpoint)
	if err != nil || err2 != nil || u.Opaque != "" || u.User != nil {
		return false
	}
	host := func(u *url.URL) string {
		h := strings.ToLower(u.Host)
		switch {
		case u.Scheme == "https" && strings.HasSuffix(h, ":443"):
			return strings.TrimSuffix(h, ":443")
		case u.Scheme == "http" && strings.HasSuffix(h, ":80"):
			return strings.TrimSuffix(h, ":80")
		}
		return h
	}
	u.Scheme, e.Scheme = strings.ToLower(u.Scheme), strings.ToLower(e.Scheme)
	path := func(u *url.URL) string {
		if u.Path == "" {
			return "/"
		}
		return u.Path
	}
	return u.Scheme == e.Scheme && host(u) == host(e) && path(u) == path(e)
}

// usedDPoPProof spends the proof's jti: a proof used before, here or on
// another instance, is invalid_dpop_proof (RFC 9449 §11.1).
func (p *Provider) usedDPoPProof(ctx context.Context, proof *dpopProof) error {
	err := p.db.UseDPoPProof(ctx, proof.jtiHash, proof.expires)
	if errors.Is(err, models.ErrConflict) {
		return errInvalidDPoPProof("the DPoP proof was used before").WithParent(err)
	}
	return err
}

// tokenDPoP checks and spends the DPoP proof of a token endpoint request
// and returns its key's thumbprint ("" without a proof). A client that
// requires DPoP must send one.
func (p *Provider) tokenDPoP(ctx context.Context, r *op.Request[struct{}], client op.Client) (string, error) {
	proof, err := p.checkDPoPProof(r.Header, r.Method, p.endpointURL(r.URL), "")
	if err != nil {
		return "", err
	}
	if proof == nil {
		if c, ok := client.(*clientAdapter); ok && c.m.NeedsDPoP() { // per client, or the FAPI 2.0 profile
			return "", errInvalidDPoPProof("this client must send a DPoP proof (RFC 9449)")
		}
		return "", nil
	}
	if c, ok := client.(*clientAdapter); ok && c.m.FAPI2() && !slices.Contains(models.FAPI2Algs, proof.alg) { // FAPI 2.0 Security Profile, cryptography: PS256, ES256 (EdDSA not offered)
		return "", errInvalidDPoPProof(fmt.Sprintf("the FAPI 2.0 profile allows DPoP proofs signed with %v only", models.FAPI2Algs))
	}
	if err := p.usedDPoPProof(ctx, proof); err != nil {
		return "", err
	}
	return proof.jkt, nil
}

// dpopRequest is the part of an op request tokenDPoP reads.
func dpopRequest[T any](r *op.Request[T]) *op.Request[struct{}] {
	return &op.Request[struct{}]{Method: r.Method, URL: r.URL, Header: r.Header}
}

// dpopNonce returns the server nonce of the window at t: the window's
// number and a MAC of it.
func (p *Provider) dpopNonce(t time.Time) string {
	var w [8]byte
	binary.BigEndian.PutUint64(w[:], uint64(t.Unix()/int64(dpopNonceWindow/time.Second))) //nolint:gosec // a Unix time after 1970
	m := hmac.New(sha256.New, p.storage.tokens.dpopNonce)
	m.Write(w[:])
	return base64.RawURLEncoding.EncodeToString(append(w[:], m.Sum(nil)[:16]...))
}

// validDPoPNonce accepts the nonce of the current and of the previous
// window, so a nonce handed out just before a window ends still works.
func (p *Provider) validDPoPNonce(nonce string, now time.Time) bool {
	if nonce == "" || len(nonce) > 64 {
		return false
	}
	for _, t := range []time.Time{now, now.Add(-dpopNonceWindow)} {
		if hmac.Equal([]byte(nonce), []byte(p.dpopNonce(t))) {
			return true
		}
	}
	return false
}

// dpopNonceHeaders hands a fresh server nonce (RFC 9449 §8) to every
// request to the token, PAR and userinfo endpoints that carries a DPoP
// proof, or to all of them when nonces are required: the header is set
// before op writes the answer, error or not, so a use_dpop_nonce error
// carries it.
func (p *Provider) dpopNonceHeaders(next http.Handler) http.Handler {
	e := p.op.Endpoints()
	paths := map[string]bool{e.Token.Relative(): true, e.Userinfo.Relative(): true, PAREndpoint: true, e.DeviceAuthorization.Relative(): true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if paths[r.URL.Path] && (p.cfg.DPoPNonce || r.Header.Get(dpopHeader) != "") {
			w.Header().Set(dpopNonceHeader, p.dpopNonce(p.storage.now()))
		}
		next.ServeHTTP(w, r)
	})
}

// tokenBinding returns the DPoP key thumbprint an access token of ours is
// bound to ("" unbound); ok is false for a token that is not ours.
func (p *Provider) tokenBinding(ctx context.Context, token string) (jkt string, ok bool) {
	// Called before op's issuer interceptor (dpopUserinfo): op's
	// verifier reads the issuer from the context.
	id, _, ok := p.server.tokenIDAndSubject(op.ContextWithIssuer(ctx, p.cfg.Issuer), token)
	if !ok {
		return "", false
	}
	t, ok := p.storage.tokens.decodeOK(id)
	return t.jkt, ok
}

// dpopUserinfo is the DPoP side of /userinfo (RFC 9449 §7), in front of
// op, which knows only Bearer tokens:
//
//   - "Authorization: DPoP <token>" needs a proof for this request whose
//     ath is the token's hash (§7.1) and whose key the token is bound to;
//     then op answers the request as a Bearer one;
//   - a DPoP-bound token sent as a Bearer token (header or form) is
//     refused (§7.2): possession of the token alone is not enough.
//
// Refusals are 401 with a DPoP challenge (§7.1) and an RFC 6750 body.
func (p *Provider) dpopUserinfo(next http.Handler) http.Handler {
	path := p.op.Endpoints().Userinfo.Relative()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			next.ServeHTTP(w, r)
			return
		}
		auth := r.Header.Get("Authorization")
		scheme, token, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(scheme, "DPoP") {
			if !strings.EqualFold(scheme, "Bearer") {
				token = ""
				if r.Method == http.MethodPost && r.ParseForm() == nil { // RFC 6750 §2.2
					token = r.PostForm.Get("access_token")
				}
			}
			if jkt, _ := p.tokenBinding(r.Context(), strings.TrimSpace(token)); jkt != "" {
				dpopChallenge(w, r, errInvalidToken().WithDescription("this access token is DPoP-bound: send it with the DPoP scheme and a proof (RFC 9449 §7.1)"))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		token = strings.TrimSpace(token)
		proof, err := p.checkDPoPProof(r.Header, r.Method, p.endpointURL(r.URL), token)
		if err == nil && proof == nil {
			err = errInvalidDPoPProof("the DPoP scheme needs a DPoP proof")
		}
		if err != nil {
			dpopChallenge(w, r, err)
			return
		}
		if jkt, _ := p.tokenBinding(r.Context(), token); jkt == "" || subtle.ConstantTimeCompare([]byte(jkt), []byte(proof.jkt)) != 1 {
			dpopChallenge(w, r, errInvalidToken().WithDescription("the access token is not bound to the DPoP proof's key"))
			return
		}
		if err := p.usedDPoPProof(r.Context(), proof); err != nil {
			dpopChallenge(w, r, err)
			return
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
		next.ServeHTTP(&challengeWriter{ResponseWriter: w, scheme: "DPoP"}, r)
	})
}

// dpopChallenge answers a refused userinfo request: 401 with
// WWW-Authenticate: DPoP and the error (RFC 9449 §7.1), the error's JSON
// body; a storage failure is a 500 server_error.
func dpopChallenge(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oidc.Error
	if !errors.As(err, &oe) {
		op.WriteError(w, r, op.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusInternalServerError), nil)
		return
	}
	w.Header().Set("WWW-Authenticate", `DPoP algs="`+strings.Join(DPoPAlgorithms(), " ")+`", error="`+string(oe.ErrorType)+`"`)
	op.WriteError(w, r, op.NewStatusError(oe, http.StatusUnauthorized), nil)
}

// tokenType is the token_type of an access token bound to jkt: DPoP when
// it is bound (RFC 9449 §5), else Bearer.
func tokenType(jkt string) string {
	if jkt != "" {
		return "DPoP"
	}
	return oidc.BearerToken
}

// setIntrospectionBinding says in an introspection response whether the
// token is DPoP-bound: token_type and cnf.jkt (RFC 9449 §6.2), so that a
// resource server checks the proof against the key.
func setIntrospectionBinding(resp *oidc.IntrospectionResponse, jkt string) {
	resp.TokenType = tokenType(jkt)
	if jkt != "" {
		if resp.Claims == nil {
			resp.Claims = map[string]any{}
		}
		resp.Claims["cnf"] = map[string]string{"jkt": jkt}
	}
}

// deviceDPoP checks the dpop_jkt and DPoP proof of a device authorization
// request as pushedDPoP does for PAR and returns the key the device code
// is bound to ("" none). The proof's jti is spent last.
func (p *Provider) deviceDPoP(ctx context.Context, r *op.Request[oidc.DeviceAuthorizationRequest]) (string, error) {
	jkt := r.Form.Get(oidc.DPoPJKTParam)
	if jkt != "" && !oidc.ValidDPoPJKT(jkt) {
		return "", oidc.ErrInvalidRequest().WithDescription("dpop_jkt must be the base64url SHA-256 thumbprint of a JWK (RFC 7638)")
	}
	proof, err := p.checkDPoPProof(r.Header, r.Method, p.endpointURL(r.URL), "")
	if err != nil || proof == nil {
		return jkt, err
	}
	if jkt != "" && jkt != proof.jkt {
		return "", errInvalidDPoPProof("dpop_jkt is not the thumbprint of the DPoP proof's key")
	}
	return proof.jkt, p.usedDPoPProof(ctx, proof)
}
