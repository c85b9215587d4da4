package oidc

import (
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// issEncoder encodes authorization responses with the issuer added as
// "iss" (RFC 9207 §2): every authorization response, success or error,
// query, fragment or form_post, so that a client talking to several
// authorization servers can tell which one answered (mix-up attacks, RFC
// 9207 §1, OAuth 2.0 Security BCP §4.4). op uses its encoder for nothing
// but authorization responses (AuthResponseURL, AuthResponseFormPost,
// AuthRequestError, TryErrorRedirect).
type issEncoder struct {
	inner  httphelper.Encoder
	issuer string
}

func (e issEncoder) Encode(src any, dst map[string][]string) error {
	if err := e.inner.Encode(src, dst); err != nil {
		return err
	}
	dst["iss"] = []string{e.issuer}
	return nil
}

// authorizer is op's provider with the encoder of authorization responses
// replaced by issEncoder. op's callback handler, LegacyServer and
// AuthRequestError take it where they take the provider, and read the
// encoder through it.
type authorizer struct {
	*op.Provider
	enc issEncoder
}

func (a *authorizer) Encoder() httphelper.Encoder { return a.enc }

var _ op.OpenIDProvider = (*authorizer)(nil)
