package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyRules guards the layering of ARCHITECTURE.md: third-party
// types stay at their edge, nothing but cmd imports idp, and the audience
// packages of idp (signin, account, admin) import idp/web but never idp or
// each other.
func TestDependencyRules(t *testing.T) {
	const mod = "github.com/latchkey-idp/latchkey/"
	rules := map[string]struct {
		allowed   []string // project packages it may import
		forbidden []string // third-party prefixes it must not import
	}{
		"models":      {nil, []string{"github.com/labstack/echo", "github.com/zitadel", "github.com/go-webauthn"}},
		"passkeys":    {[]string{"models"}, []string{"github.com/labstack/echo", "github.com/zitadel"}},
		"oidc":        {[]string{"models"}, []string{"github.com/labstack/echo", "github.com/go-webauthn"}},
		"templates":   {nil, nil},
		"static":      {nil, nil},
		"idp":         {[]string{"models", "oidc", "passkeys", "templates", "static"}, nil},
		"idp/web":     {[]string{"models", "oidc", "passkeys", "templates", "static"}, nil},
		"idp/signin":  {[]string{"idp/web", "models", "oidc", "passkeys", "templates", "static"}, nil},
		"idp/account": {[]string{"idp/web", "models", "oidc", "passkeys", "templates", "static"}, nil},
		"idp/admin":   {[]string{"idp/web", "models", "oidc", "passkeys", "templates", "static"}, nil},
		"cmd/demo-rp": {nil, []string{"github.com/labstack/echo", "github.com/zitadel", "github.com/go-webauthn", "gorm.io"}},
	}
	for pkg, rule := range rules {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, mod) {
				name := strings.TrimPrefix(dep, mod)
				if name == pkg || strings.HasPrefix(name, pkg+"/") {
					continue
				}
				ok := false
				for _, a := range rule.allowed {
					ok = ok || name == a
				}
				if !ok {
					t.Errorf("%s must not import %s", pkg, name)
				}
				continue
			}
			for _, f := range rule.forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s must not depend on %s", pkg, dep)
				}
			}
		}
	}
}
