// Package oidc is Latchkey's OpenID Provider: it implements zitadel's
// op.Storage (and the optional op interfaces it uses) over models, keeps the
// signing keys (RS256 and ES256, sealed with the master key) and their
// rotation, maps users to claims, and builds the op.Provider.
//
// It imports models, zitadel/oidc and go-jose. zitadel types never leave
// this package: idp talks to it through Provider, Config and FailKind.
package oidc
