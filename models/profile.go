package models

import "fmt"

// ProfileFAPI2 is the FAPI 2.0 Security Profile (OpenID FAPI 2.0
// Security Profile, authorization server requirements and cryptography):
// a client under it must send every authorization request through PAR
// (with redirect_uri), with PKCE S256; it authenticates with
// private_key_jwt whose aud is the issuer (mTLS is not offered), gets
// only DPoP-bound access tokens, signs assertions, request objects and
// DPoP proofs with ES256 or PS256 (EdDSA is not offered) and gets ES256
// ID tokens; codes live at most 60 s (our maximum for every client) and
// every authorization response carries iss (RFC 9207, every client).
const ProfileFAPI2 = "fapi2"

// FAPI2Algs are the signature algorithms the FAPI 2.0 profile allows for
// client assertions, request objects and DPoP proofs.
var FAPI2Algs = []string{"ES256", "PS256"}

// FAPI2 says whether the client is under the FAPI 2.0 profile.
func (c *Client) FAPI2() bool { return c.Profile == ProfileFAPI2 }

// CheckProfile checks that the client can meet its profile: "" (none) or
// ProfileFAPI2, which needs a confidential client with registered keys
// (private_key_jwt) and ES256 ID tokens. Errors: ErrInvalid naming every
// problem.
func (c *Client) CheckProfile() error {
	switch c.Profile {
	case "":
		return nil
	case ProfileFAPI2:
	default:
		return fmt.Errorf("%w: profile must be %q or empty, not %q", ErrInvalid, ProfileFAPI2, c.Profile)
	}
	switch {
	case c.Public:
		return fmt.Errorf("%w: the FAPI 2.0 profile is for confidential clients only", ErrInvalid)
	case c.JWKS == "":
		return fmt.Errorf("%w: the FAPI 2.0 profile needs the client's public keys (JWKS) for private_key_jwt", ErrInvalid)
	case c.IDTokenAlg != "ES256":
		return fmt.Errorf("%w: the FAPI 2.0 profile needs ES256 ID tokens (it allows PS256, ES256 or EdDSA signatures)", ErrInvalid)
	}
	return nil
}
