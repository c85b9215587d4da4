package oidc

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// formPostPage is op's form_post page (same onload handler, so the same
// CSP hash allows it) with every parameter of the response: op's template
// carries only the success parameters, so an error response would lose
// error and error_description.
var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="UTF-8" /><title>Returning to the application</title></head>
<body onload="javascript:document.forms[0].submit()">
<form method="post" action="{{.RedirectURI}}">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}"/>
{{end}}<noscript><button type="submit">Continue</button></noscript>
</form>
</body>
</html>
`))

// writeFormPostError answers an authorization error by POSTing it to the
// client's redirect URI (OAuth 2.0 Form Post Response Mode §2: every
// authorization response, errors included, is POSTed). e carries the
// request's state.
func (p *Provider) writeFormPostError(w http.ResponseWriter, redirectURI string, e *oidc.Error) error {
	params := make(map[string][]string)
	if err := p.op.Encoder().Encode(e, params); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := formPostPage.Execute(&buf, struct {
		RedirectURI string
		Params      map[string][]string
	}{redirectURI, params}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := buf.WriteTo(w)
	return err
}
