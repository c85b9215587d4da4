package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyRules guards the layering of ARCHITECTURE.md: third-party
// types stay at their edge, nothing but cmd imports idp, and the audience
// packages of idp (signin, account, admin, scim) import idp/web but never idp or
// each other.
func TestDependencyRules(t *testing.T) {
	const mod = module
	rules := map[string]struct {
		allowed   []string // project packages it may import
		forbidden []string // third-party prefixes it must not import
	}{
		"models":            {nil, []string{"github.com/labstack/echo", "github.com/zitadel", "github.com/go-webauthn"}},
		"passkeys":          {[]string{"models"}, []string{"github.com/labstack/echo", "github.com/zitadel"}},
		"oidc":              {[]string{"models", "internal/outbound", "internal/i18n"}, []string{"github.com/labstack/echo", "github.com/go-webauthn"}},
		"mail":              {[]string{"internal/i18n", "models", "templates"}, []string{"github.com/labstack/echo", "github.com/zitadel", "github.com/go-webauthn"}},
		"templates":         {nil, nil},
		"static":            {nil, nil},
		"idp":               {[]string{"mail", "internal/i18n", "models", "oidc", "passkeys", "templates", "static", "internal/outbound"}, nil},
		"idp/web":           {[]string{"internal/i18n", "models", "oidc", "passkeys", "templates", "static", "internal/outbound"}, nil},
		"idp/signin":        {[]string{"mail", "idp/web", "internal/i18n", "models", "oidc", "passkeys", "templates", "static", "internal/outbound"}, nil},
		"idp/account":       {[]string{"mail", "idp/web", "internal/i18n", "models", "oidc", "passkeys", "templates", "static", "internal/outbound"}, nil},
		"idp/admin":         {[]string{"mail", "idp/web", "internal/i18n", "models", "oidc", "passkeys", "templates", "static", "internal/outbound"}, nil},
		"idp/scim":          {[]string{"idp/web", "internal/i18n", "models", "oidc", "passkeys", "templates", "static", "internal/outbound"}, nil},
		"internal/i18n":     {nil, []string{"github.com/labstack/echo", "github.com/zitadel", "github.com/go-webauthn", "gorm.io"}},
		"internal/outbound": {nil, []string{"github.com/", "gorm.io", "golang.org/"}},
		"cmd/demo-rp":       {nil, []string{"github.com/labstack/echo", "github.com/zitadel", "github.com/go-webauthn", "gorm.io"}},
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

// TestServerBinaryCarriesNoTestCode: the production binary links no test
// helper (passkeys/passkeytest, internal/dbtest, internal/flowclient, any
// package named *test), no load tool (cmd/latchkey-bench), no package
// testing or httptest, and no browser automation or virtual authenticator.
// The load tool is its own binary; this test also checks that the rule
// would catch it.
func TestServerBinaryCarriesNoTestCode(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	for _, dep := range deps(module + "cmd/latchkey") {
		if why := notForProduction(dep); why != "" {
			t.Errorf("cmd/latchkey depends on %s (%s)", dep, why)
		}
	}
	caught := false
	for _, dep := range deps(module + "cmd/latchkey-bench") {
		caught = caught || notForProduction(dep) != ""
	}
	if !caught {
		t.Error("the rule finds nothing in cmd/latchkey-bench, which links passkeys/passkeytest: it is broken")
	}
}

const module = "github.com/latchkey-idp/latchkey/"

// notForProduction says why the package path dep has no place in the
// server binary, or returns "".
func notForProduction(dep string) string {
	switch dep {
	case "testing", "net/http/httptest", "testing/fstest", "testing/iotest", "testing/quick", "testing/slogtest", "testing/synctest":
		return "standard library test package"
	}
	for _, p := range []string{"github.com/chromedp/", "github.com/descope/virtualwebauthn", "github.com/stretchr/testify/"} {
		if strings.HasPrefix(dep, p) {
			return "test-only dependency"
		}
	}
	if strings.HasPrefix(dep, module) {
		name := strings.TrimPrefix(dep, module)
		if strings.HasPrefix(name, "cmd/") && name != "cmd/latchkey" {
			return "another command"
		}
		if strings.HasPrefix(name, "internal/dbtest") || name == "internal/flowclient" {
			return "test helper"
		}
	}
	if !strings.Contains(strings.Split(dep, "/")[0], ".") {
		return "" // the standard library: internal/testlog and the like are the runtime's
	}
	for _, elem := range strings.Split(dep, "/") {
		if strings.HasSuffix(elem, "test") || strings.HasPrefix(elem, "testutil") || elem == "testdata" || elem == "testhelpers" {
			return "test helper"
		}
	}
	return ""
}
