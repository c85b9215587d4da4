package oidc

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/internal/i18n"
)

// formPostPage is op's form_post page (same onload handler, so the same
// CSP hash allows it) with every parameter of the response: op's template
// carries only the success parameters, so an error response would lose
// error and error_description.
var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="UTF-8" /><title>{{.Title}}</title></head>
<body onload="javascript:document.forms[0].submit()">
<form method="post" action="{{.RedirectURI}}">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}"/>
{{end}}<noscript><button type="submit">{{.Continue}}</button></noscript>
</form>
</body>
</html>
`))

// writeFormPostError answers an authorization error by POSTing it to the
// client's redirect URI (OAuth 2.0 Form Post Response Mode §2: every
// authorization response, errors included, is POSTed). e carries the
// request's state.
func (p *Provider) writeFormPostError(w http.ResponseWriter, r *http.Request, a *authRequest, e *oidc.Error) error {
	return p.writeFormPost(w, r, a, e)
}

// formPostLang is the language of the form_post page, which a browser
// without scripts shows: the switcher's cookie (idp/web/lang.go), the
// request's ui_locales (OIDC Core §3.1.2.1), Accept-Language, English.
func formPostLang(r *http.Request, a *authRequest) *i18n.Tr {
	for _, name := range []string{"__Host-latchkey_lang", "latchkey_lang"} {
		if c, err := r.Cookie(name); err == nil && i18n.Supported(c.Value) {
			return i18n.For(c.Value)
		}
	}
	if a != nil {
		if l, ok := i18n.MatchUILocales(a.m.UILocales); ok {
			return i18n.For(l)
		}
	}
	l, _ := i18n.MatchAcceptLanguage(r.Header.Get("Accept-Language"))
	return i18n.For(l)
}

// writeFormPost writes the form_post page of a's authorization response,
// encoded with iss (iss.go).
func (p *Provider) writeFormPost(w http.ResponseWriter, r *http.Request, a *authRequest, response any) error {
	redirectURI := a.GetRedirectURI()
	params := make(map[string][]string)
	if err := p.authz.Encoder().Encode(response, params); err != nil {
		return err
	}
	t := formPostLang(r, a)
	var buf bytes.Buffer
	if err := formPostPage.Execute(&buf, struct {
		RedirectURI string
		Params      map[string][]string
		Lang        string
		Title       string
		Continue    string
	}{redirectURI, params, t.Lang(), t.S("formpost.title"), t.S("formpost.continue")}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := buf.WriteTo(w)
	return err
}

// authorizeCallback is op's /authorize/callback (op.AuthorizeCallback),
// except that a successful form_post response is written with
// formPostPage: op's template carries only the parameters it knows and
// would drop iss (RFC 9207 §2).
func (p *Provider) authorizeCallback(w http.ResponseWriter, r *http.Request) {
	id, err := op.ParseAuthorizeCallbackRequest(r)
	if err != nil {
		op.AuthRequestError(w, r, nil, err, p.authz)
		return
	}
	ar, err := p.storage.AuthRequestByID(r.Context(), id)
	if err != nil {
		op.AuthRequestError(w, r, nil, err, p.authz)
		return
	}
	if !ar.Done() {
		op.AuthRequestError(w, r, ar, oidc.ErrInteractionRequired().WithDescription("the sign-in is not finished"), p.authz)
		return
	}
	if ar.GetResponseMode() != oidc.ResponseModeFormPost || ar.GetResponseType() != oidc.ResponseTypeCode {
		op.AuthResponse(ar, p.authz, w, r)
		return
	}
	resp, err := op.BuildAuthResponseCodeResponsePayload(r.Context(), ar, p.authz)
	if err != nil {
		op.AuthRequestError(w, r, ar, err, p.authz)
		return
	}
	a, ok := ar.(*authRequest)
	if !ok {
		op.AuthResponse(ar, p.authz, w, r)
		return
	}
	if err := p.writeFormPost(w, r, a, resp); err != nil {
		logError(r.Context(), "form_post response", err, "auth_request_id", id)
	}
}
