package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/models"
)

// scimClient is a small SCIM 2.0 client (RFC 7644) written from the RFC,
// not from idp/scim: JSON over HTTP with a bearer token.
type scimClient struct {
	t     *testing.T
	base  string
	token string
}

const (
	scimUserSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
	scimPatchOp     = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimListSchema  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
)

// do sends body (nil, a string of raw JSON, or a value to encode) and
// returns the status, the decoded JSON answer (nil when empty) and the
// headers.
func (c *scimClient) do(method, path string, body any) (int, map[string]any, http.Header) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	raw := readBody(c.t, resp)
	var out map[string]any
	if strings.TrimSpace(raw) != "" {
		if err := json.Unmarshal([]byte(raw), &out); err != nil {
			c.t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			c.t.Errorf("%s %s: Content-Type %q, want application/scim+json", method, path, ct)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// must sends a request and fails unless the status is want.
func (c *scimClient) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	st, out, _ := c.do(method, path, body)
	if st != want {
		c.t.Fatalf("%s %s: %d, want %d: %v", method, path, st, want, out)
	}
	return out
}

// wantError checks a SCIM error response (RFC 7644 §3.12).
func (c *scimClient) wantError(status int, scimType, method, path string, body any) map[string]any {
	c.t.Helper()
	st, out, _ := c.do(method, path, body)
	if st != status {
		c.t.Fatalf("%s %s: %d, want %d: %v", method, path, st, status, out)
	}
	if schemas, _ := out["schemas"].([]any); len(schemas) != 1 || schemas[0] != scimErrorSchema {
		c.t.Errorf("%s %s: error schemas %v", method, path, out["schemas"])
	}
	if out["status"] != fmt.Sprint(status) {
		c.t.Errorf("%s %s: error status %v, want %q", method, path, out["status"], fmt.Sprint(status))
	}
	if scimType != "" && out["scimType"] != scimType {
		c.t.Errorf("%s %s: scimType %v, want %s (%v)", method, path, out["scimType"], scimType, out["detail"])
	}
	return out
}

// list GETs a list and returns its total and resources.
func (c *scimClient) list(path string) (int, []map[string]any) {
	c.t.Helper()
	out := c.must(http.StatusOK, http.MethodGet, path, nil)
	if s, _ := out["schemas"].([]any); len(s) != 1 || s[0] != scimListSchema {
		c.t.Errorf("GET %s: schemas %v", path, out["schemas"])
	}
	var rs []map[string]any
	for _, r := range asList(out["Resources"]) {
		rs = append(rs, r.(map[string]any))
	}
	return int(out["totalResults"].(float64)), rs
}

func asList(v any) []any { l, _ := v.([]any); return l }

func patchOp(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{scimPatchOp}, "Operations": ops}
}

// TestSCIMLifecycle drives the SCIM service provider over HTTP as Entra ID
// and Okta do: discovery, users and groups created, read, filtered,
// paged, patched in both vendors' shapes, replaced and deleted; a user made
// inactive loses sessions and tokens at once, a deleted one their passkeys
// and grants; every change is audited as made by the token.
func TestSCIMLifecycle(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	raw, tok, err := app.db.CreateSCIMToken(ctx, "entra", "test")
	if err != nil {
		t.Fatal(err)
	}
	c := &scimClient{t: t, base: app.issuer + "/scim/v2", token: raw}

	t.Run("discovery", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		spc := c.must(http.StatusOK, http.MethodGet, "/ServiceProviderConfig", nil)
		patch, _ := spc["patch"].(map[string]any)
		filter, _ := spc["filter"].(map[string]any)
		schemes := asList(spc["authenticationSchemes"])
		if patch["supported"] != true || filter["supported"] != true || len(schemes) != 1 ||
			schemes[0].(map[string]any)["type"] != "oauthbearertoken" {
			t.Errorf("ServiceProviderConfig = %v", spc)
		}
		n, schemas := c.list("/Schemas")
		var ids []string
		for _, s := range schemas {
			ids = append(ids, s["id"].(string))
		}
		if n < 3 || !slices.Contains(ids, scimUserSchema) || !slices.Contains(ids, scimGroupSchema) {
			t.Errorf("Schemas = %v", ids)
		}
		c.must(http.StatusOK, http.MethodGet, "/Schemas/"+scimUserSchema, nil)
		if n, rts := c.list("/ResourceTypes"); n != 2 || rts[0]["endpoint"] != "/Users" || rts[1]["endpoint"] != "/Groups" {
			t.Errorf("ResourceTypes = %d %v", n, rts)
		}
	})

	// Entra ID's create: mixed-case userName, name parts, a work email,
	// the enterprise extension.
	alice := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{
		"schemas":  []string{scimUserSchema, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"userName": "Alice@Example.com", "active": true, "externalId": "ext-alice",
		"name":   map[string]any{"givenName": "Alice", "familyName": "Archer"},
		"emails": []any{map[string]any{"value": "alice@example.com", "type": "work", "primary": true}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "42"},
	})
	aliceID, _ := alice["id"].(string)
	if alice["userName"] != "alice@example.com" || alice["active"] != true || alice["externalId"] != "ext-alice" ||
		alice["displayName"] != "Alice Archer" || asList(alice["emails"])[0].(map[string]any)["value"] != "alice@example.com" {
		t.Fatalf("created user = %v", alice)
	}
	if meta, _ := alice["meta"].(map[string]any); meta["location"] != c.base+"/Users/"+aliceID || meta["resourceType"] != "User" {
		t.Errorf("meta = %v", alice["meta"])
	}
	stored, err := app.db.UserByID(ctx, aliceID)
	if err != nil || stored.Username != "alice@example.com" || stored.ExternalID != "ext-alice" || stored.Disabled || stored.EmailVerified {
		t.Fatalf("stored user = %+v, %v", stored, err)
	}
	if got := c.must(http.StatusOK, http.MethodGet, "/Users/"+aliceID, nil); got["userName"] != "alice@example.com" {
		t.Errorf("GET user = %v", got)
	}
	c.wantError(http.StatusNotFound, "", http.MethodGet, "/Users/no-such-user", nil)

	t.Run("bad input changes nothing", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		before := countRows(t, app, "users")
		c.wantError(http.StatusConflict, "uniqueness", http.MethodPost, "/Users",
			map[string]any{"schemas": []string{scimUserSchema}, "userName": "ALICE@example.com"})
		out := c.wantError(http.StatusBadRequest, "invalidSyntax", http.MethodPost, "/Users",
			map[string]any{"schemas": []string{scimUserSchema}, "userName": "mallory", "favouriteColour": "red"})
		if !strings.Contains(fmt.Sprint(out["detail"]), "favouriteColour") {
			t.Errorf("unknown attribute detail = %v", out["detail"])
		}
		c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPost, "/Users",
			map[string]any{"schemas": []string{scimUserSchema}, "displayName": "no userName"})
		c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPost, "/Users",
			map[string]any{"schemas": []string{scimUserSchema}, "userName": "has space"})
		// Names and addresses go into the To header of every message:
		// a line break (header injection), an oversize name and a
		// malformed address are refused, on create and on patch.
		for _, bad := range []map[string]any{
			{"displayName": "Eve\r\nBcc: x@example.com"},
			{"name": map[string]any{"givenName": "Eve\nBcc: x@example.com", "familyName": "E"}},
			{"displayName": strings.Repeat("x", 200)},
			{"emails": []any{map[string]any{"value": "eve@example.com\r\nBcc: x@example.com", "primary": true}}},
			{"emails": []any{map[string]any{"value": "Eve <eve@example.com>", "primary": true}}},
			{"emails": []any{map[string]any{"value": "not an address", "primary": true}}},
		} {
			body := map[string]any{"schemas": []string{scimUserSchema}, "userName": "mallory"}
			for k, v := range bad {
				body[k] = v
			}
			c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPost, "/Users", body)
		}
		for _, op := range []map[string]any{
			{"op": "replace", "path": "displayName", "value": "Alice\r\nBcc: x@example.com"},
			{"op": "replace", "path": "name.formatted", "value": "Alice\u0000"},
			{"op": "replace", "value": map[string]any{"displayName": strings.Repeat("a", 129)}},
			{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "alice@example.com\r\nBcc: x@example.com"},
			{"op": "add", "path": "emails", "value": []any{map[string]any{"value": "alice@example.com\nBcc: x@example.com", "primary": true}}},
		} {
			c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPatch, "/Users/"+aliceID, patchOp(op))
		}
		c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPut, "/Users/"+aliceID, map[string]any{
			"schemas": []string{scimUserSchema}, "userName": "alice@example.com", "displayName": "Alice\r\nArcher"})
		c.wantError(http.StatusBadRequest, "invalidSyntax", http.MethodPost, "/Users", `{"schemas": [`)
		c.wantError(http.StatusBadRequest, "invalidFilter", http.MethodGet, "/Users?filter=userName%20eq", nil)
		c.wantError(http.StatusBadRequest, "invalidFilter", http.MethodGet, "/Users?filter=nickName%20eq%20%22x%22", nil)
		c.wantError(http.StatusBadRequest, "invalidFilter", http.MethodGet, "/Users?filter=favouriteColour%20eq%20%22red%22", nil)
		c.wantError(http.StatusBadRequest, "invalidPath", http.MethodPatch, "/Users/"+aliceID,
			patchOp(map[string]any{"op": "replace", "path": "favouriteColour", "value": "red"}))
		c.wantError(http.StatusBadRequest, "mutability", http.MethodPatch, "/Users/"+aliceID,
			patchOp(map[string]any{"op": "remove", "path": "userName"}))
		// A body over 1 MiB: 413 in SCIM's shape, declared or streamed.
		big := `{"schemas":["` + scimUserSchema + `"],"userName":"big","displayName":"` + strings.Repeat("x", 2<<20) + `"}`
		c.wantError(http.StatusRequestEntityTooLarge, "", http.MethodPost, "/Users", big)
		req, _ := http.NewRequest(http.MethodPost, c.base+"/Users", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1 // chunked: no length to refuse up front
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, scimErrorSchema) {
			t.Errorf("chunked oversize body: %d %s", resp.StatusCode, body)
		}
		if after := countRows(t, app, "users"); after != before {
			t.Errorf("bad input changed the users: %d → %d", before, after)
		}
		if u, _ := app.db.UserByID(ctx, aliceID); u.Username != "alice@example.com" || u.DisplayName != "Alice Archer" || u.Email != "alice@example.com" {
			t.Errorf("bad patches changed alice: %+v", u)
		}
	})

	t.Run("authentication", func(t *testing.T) {
		for name, token := range map[string]string{"none": "", "unknown": models.SCIMTokenPrefix + "nope", "garbage": "x"} {
			nc := &scimClient{t: t, base: c.base, token: token}
			st, out, h := nc.do(http.MethodGet, "/Users", nil)
			if st != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || out["schemas"] == nil {
				t.Errorf("%s token: %d %v %v", name, st, h.Get("WWW-Authenticate"), out)
			}
		}
		// An admin API token is not a SCIM token, nor the reverse.
		apiRaw, _, err := app.db.CreateAPIToken(ctx, "admin", "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		(&scimClient{t: t, base: c.base, token: apiRaw}).wantError(http.StatusUnauthorized, "", http.MethodGet, "/Users", nil)
		if _, err := app.db.APITokenByRaw(ctx, c.token); err == nil {
			t.Error("a SCIM token passed as an admin API token")
		}
	})

	// Alice enrolls a passkey and signs in to an app: a session and a
	// grant with a refresh token.
	link, err := IssueSetupLink(ctx, app.db, app.issuer, aliceID, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(link)
	r := app.newRP(client.ID, secret, redirect)
	authURL, f := r.authURL()
	oauthTok, _ := r.exchange(b.signIn(authURL), f)

	if ss, err := app.db.SessionsByUser(ctx, aliceID); err != nil || len(ss) != 1 {
		t.Fatalf("alice's sessions after sign-in: %v %v", ss, err)
	}

	t.Run("Entra ID patch", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		got := c.must(http.StatusOK, http.MethodPatch, "/Users/"+aliceID, patchOp(
			map[string]any{"op": "Replace", "path": "displayName", "value": "Alice A. Archer"},
			map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "aa@example.com"},
			map[string]any{"op": "Add", "path": "name.givenName", "value": "Alice"},
			map[string]any{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
		))
		if got["displayName"] != "Alice A. Archer" || asList(got["emails"])[0].(map[string]any)["value"] != "aa@example.com" || got["active"] != true {
			t.Fatalf("patched = %v", got)
		}
		// Entra ID disables with a capitalised op and a string boolean.
		got = c.must(http.StatusOK, http.MethodPatch, "/Users/"+aliceID, patchOp(
			map[string]any{"op": "Replace", "path": "active", "value": "False"}))
		if got["active"] != false {
			t.Fatalf("after active False: %v", got)
		}
		u, _ := app.db.UserByID(ctx, aliceID)
		if !u.Disabled {
			t.Fatal("user not disabled")
		}
		if ss, err := app.db.SessionsByUser(ctx, aliceID); err != nil || len(ss) != 0 {
			t.Errorf("live sessions after active=false: %v %v", ss, err)
		}
		if n := countWhere(t, app, "sessions", "user_id = ? AND ended_at IS NOT NULL", aliceID); n == 0 {
			t.Error("no ended session: the sign-in's session was not ended")
		}
		if n := countWhere(t, app, "grants", "user_id = ?", aliceID); n != 0 {
			t.Errorf("%d grants left after active=false", n)
		}
		if _, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: oauthTok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Errorf("refresh after active=false: %v, want invalid_grant", err)
		}
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(oauthTok)); err == nil {
			t.Error("userinfo accepted the access token of a disabled user")
		}
	})

	t.Run("Okta patch", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		got := c.must(http.StatusOK, http.MethodPatch, "/Users/"+aliceID, patchOp(
			map[string]any{"op": "replace", "value": map[string]any{"id": aliceID, "active": true, "displayName": "Alice"}}))
		if got["active"] != true || got["displayName"] != "Alice" {
			t.Fatalf("Okta patch = %v", got)
		}
		got = c.must(http.StatusOK, http.MethodPatch, "/Users/"+aliceID, patchOp(
			map[string]any{"op": "replace", "value": map[string]any{"active": false}}))
		if u, _ := app.db.UserByID(ctx, aliceID); got["active"] != false || !u.Disabled {
			t.Fatalf("Okta deactivate = %v, stored disabled %v", got, u.Disabled)
		}
		c.must(http.StatusOK, http.MethodPatch, "/Users/"+aliceID, patchOp(
			map[string]any{"op": "replace", "value": map[string]any{"active": true}}))
	})

	t.Run("patch without a path, dotted keys", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		got := c.must(http.StatusOK, http.MethodPatch, "/Users/"+aliceID, patchOp(map[string]any{"op": "Add", "value": map[string]any{
			"displayName": "Alice D.", "name.givenName": "Alice", `emails[type eq "work"].value`: "ad@example.com", "externalId": "ext-alice"}}))
		if got["displayName"] != "Alice D." || asList(got["emails"])[0].(map[string]any)["value"] != "ad@example.com" {
			t.Fatalf("patched = %v", got)
		}
		c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPatch, "/Users/"+aliceID,
			patchOp(map[string]any{"op": "replace", "value": map[string]any{"favouriteColour": "red"}}))
		c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPatch, "/Users/"+aliceID,
			patchOp(map[string]any{"op": "replace", "path": "active", "value": "maybe"}))
		c.wantError(http.StatusBadRequest, "mutability", http.MethodPatch, "/Users/"+aliceID,
			patchOp(map[string]any{"op": "add", "path": "groups", "value": []any{map[string]any{"value": "g"}}}))
		if u, _ := app.db.UserByID(ctx, aliceID); u.DisplayName != "Alice D." || u.Disabled {
			t.Errorf("refused patches changed alice: %+v", u)
		}
	})

	t.Run("the last admin stays enabled", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		root := &models.User{Username: "root", IsAdmin: true}
		if err := app.db.CreateUser(ctx, root); err != nil {
			t.Fatal(err)
		}
		out := c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPatch, "/Users/"+root.ID,
			patchOp(map[string]any{"op": "replace", "path": "active", "value": false}))
		if !strings.Contains(fmt.Sprint(out["detail"]), "last enabled admin") {
			t.Errorf("detail = %v", out["detail"])
		}
		c.wantError(http.StatusBadRequest, "invalidValue", http.MethodDelete, "/Users/"+root.ID, nil)
		if u, err := app.db.UserByID(ctx, root.ID); err != nil || u.Disabled {
			t.Fatalf("root after refusals: %+v %v", u, err)
		}
		if err := app.db.DeleteUser(ctx, root.ID); err == nil {
			t.Fatal("deleted the last admin") // sanity: the rule the SCIM answers follow
		}
		if err := app.db.Gorm().Exec("DELETE FROM users WHERE id = ?", root.ID).Error; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("replace", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		got := c.must(http.StatusOK, http.MethodPut, "/Users/"+aliceID, map[string]any{
			"schemas": []string{scimUserSchema}, "id": aliceID, "userName": "alice.archer", "externalId": "ext-alice",
			"displayName": "Alice Archer", "emails": []any{map[string]any{"value": "alice.archer@example.com", "primary": true}}})
		u, _ := app.db.UserByID(ctx, aliceID)
		if got["userName"] != "alice.archer" || u.Username != "alice.archer" || u.Email != "alice.archer@example.com" || u.Disabled {
			t.Fatalf("replaced = %v, stored %+v", got, u)
		}
	})

	// More users for filters and pages.
	for _, n := range []string{"bob", "carol", "dave", "erin", "frank"} {
		c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"schemas": []string{scimUserSchema},
			"userName": n, "displayName": strings.ToUpper(n[:1]) + n[1:] + " Smith", "externalId": "ext-" + n,
			"emails": []any{map[string]any{"value": n + "@corp.example", "type": "work"}}, "active": n != "erin"})
	}

	t.Run("filters", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		for filter, want := range map[string][]string{
			`userName eq "alice.archer"`:                         {"alice.archer"},
			`userName eq "ALICE.ARCHER"`:                         {"alice.archer"}, // caseExact false (RFC 7643 §4.1.1)
			`externalId eq "ext-bob"`:                            {"bob"},
			`emails.value eq "CAROL@corp.example"`:               {"carol"},
			`emails[value eq "dave@corp.example"]`:               {"dave"},
			`userName sw "a"`:                                    {"alice.archer"},
			`displayName co "smith"`:                             {"bob", "carol", "dave", "erin", "frank"},
			`displayName co "%"`:                                 nil, // LIKE wildcards are literal
			`active eq false`:                                    {"erin"},
			`displayName co "Smith" and active eq true`:          {"bob", "carol", "dave", "frank"},
			`userName eq "bob" or externalId eq "ext-frank"`:     {"bob", "frank"},
			`not (displayName co "Smith") and userName ne "zed"`: {"alice.archer"},
			`id eq "` + aliceID + `"`:                            {"alice.archer"},
			`userName eq "nobody"`:                               nil,
		} {
			n, rs := c.list("/Users?filter=" + url.QueryEscape(filter))
			var got []string
			for _, r := range rs {
				got = append(got, r["userName"].(string))
			}
			if n != len(want) || !slices.Equal(got, want) {
				t.Errorf("filter %s: total %d, %v; want %v", filter, n, got, want)
			}
		}
	})

	t.Run("pages", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		all := []string{"alice.archer", "bob", "carol", "dave", "erin", "frank"}
		var got []string
		for start := 1; ; start += 2 {
			n, rs := c.list(fmt.Sprintf("/Users?startIndex=%d&count=2", start))
			if n != len(all) {
				t.Errorf("startIndex %d: totalResults %d, want %d", start, n, len(all))
			}
			for _, r := range rs {
				got = append(got, r["userName"].(string))
			}
			if len(rs) < 2 {
				break
			}
		}
		if !slices.Equal(got, all) {
			t.Errorf("paged in order: %v, want %v", got, all)
		}
		// A jump (no earlier page read by this token) skips rows instead.
		raw2, _, err := app.db.CreateSCIMToken(ctx, "okta", "test")
		if err != nil {
			t.Fatal(err)
		}
		oc := &scimClient{t: t, base: c.base, token: raw2}
		if _, rs := oc.list("/Users?startIndex=4&count=2&filter=" + url.QueryEscape(`userName pr`)); len(rs) != 2 ||
			rs[0]["userName"] != "dave" || rs[1]["userName"] != "erin" {
			t.Errorf("startIndex 4: %v", rs)
		}
		if n, rs := c.list("/Users?count=0"); n != len(all) || len(rs) != 0 {
			t.Errorf("count=0: %d %v", n, rs)
		}
		c.wantError(http.StatusBadRequest, "tooMany", http.MethodGet, fmt.Sprintf("/Users?startIndex=%d", models.MaxSCIMOffset+2), nil)
	})

	var bobID, carolID string
	for _, u := range []struct {
		name string
		id   *string
	}{{"bob", &bobID}, {"carol", &carolID}} {
		m, err := app.db.UserByUsername(ctx, u.name)
		if err != nil {
			t.Fatal(err)
		}
		*u.id = m.ID
	}

	t.Run("groups", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		g := c.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"schemas": []string{scimGroupSchema},
			"displayName": "Engineering", "externalId": "ext-eng", "members": []any{map[string]any{"value": aliceID}}})
		gid, _ := g["id"].(string)
		if g["displayName"] != "Engineering" || len(asList(g["members"])) != 1 {
			t.Fatalf("created group = %v", g)
		}
		c.wantError(http.StatusConflict, "uniqueness", http.MethodPost, "/Groups",
			map[string]any{"schemas": []string{scimGroupSchema}, "displayName": "Engineering"})
		c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPost, "/Groups", map[string]any{"schemas": []string{scimGroupSchema},
			"displayName": "Ghosts", "members": []any{map[string]any{"value": "no-such-user"}}})
		if n, rs := c.list("/Groups?filter=" + url.QueryEscape(`displayName eq "Engineering"`)); n != 1 || rs[0]["id"] != gid {
			t.Errorf("group filter: %d %v", n, rs)
		}
		// Entra ID adds and removes members one operation at a time.
		c.must(http.StatusOK, http.MethodPatch, "/Groups/"+gid, patchOp(
			map[string]any{"op": "Add", "path": "members", "value": []any{map[string]any{"value": bobID}, map[string]any{"value": carolID}}}))
		c.must(http.StatusOK, http.MethodPatch, "/Groups/"+gid, patchOp(
			map[string]any{"op": "Remove", "path": "members", "value": []any{map[string]any{"value": carolID}}}))
		// Okta removes by filter and renames with the ID in the value.
		c.must(http.StatusOK, http.MethodPatch, "/Groups/"+gid, patchOp(
			map[string]any{"op": "remove", "path": `members[value eq "` + aliceID + `"]`},
			map[string]any{"op": "replace", "value": map[string]any{"id": gid, "displayName": "Eng"}}))
		got := c.must(http.StatusOK, http.MethodGet, "/Groups/"+gid, nil)
		ms := asList(got["members"])
		if got["displayName"] != "Eng" || len(ms) != 1 || ms[0].(map[string]any)["value"] != bobID {
			t.Fatalf("group after patches = %v", got)
		}
		if bob, _ := app.db.UserByID(ctx, bobID); !slices.Equal(bob.GroupNames(), []string{"Eng"}) {
			t.Errorf("bob's groups = %v", bob.GroupNames())
		}
		if u := c.must(http.StatusOK, http.MethodGet, "/Users/"+bobID, nil); len(asList(u["groups"])) != 1 {
			t.Errorf("bob's SCIM groups = %v", u["groups"])
		}
		if got := c.must(http.StatusOK, http.MethodGet, "/Groups/"+gid+"?excludedAttributes=members", nil); got["members"] != nil {
			t.Errorf("excludedAttributes=members still lists %v", got["members"])
		}
		got = c.must(http.StatusOK, http.MethodPut, "/Groups/"+gid, map[string]any{"schemas": []string{scimGroupSchema},
			"displayName": "Engineering", "members": []any{map[string]any{"value": carolID}}})
		if ms := asList(got["members"]); got["displayName"] != "Engineering" || len(ms) != 1 || ms[0].(map[string]any)["value"] != carolID {
			t.Fatalf("replaced group = %v", got)
		}
		// Okta replaces the whole member list with a path.
		got = c.must(http.StatusOK, http.MethodPatch, "/Groups/"+gid, patchOp(
			map[string]any{"op": "replace", "path": "members", "value": []any{map[string]any{"value": aliceID}, map[string]any{"value": bobID}}}))
		if ms := asList(got["members"]); len(ms) != 2 {
			t.Fatalf("members replaced by patch = %v", got)
		}
		c.wantError(http.StatusBadRequest, "invalidValue", http.MethodPatch, "/Groups/"+gid, patchOp(
			map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "no-such-user"}}}))
		if n := countWhere(t, app, "user_groups", "group_id = ?", gid); n != 2 {
			t.Errorf("a refused member patch changed the group: %d members", n)
		}
		c.must(http.StatusNoContent, http.MethodDelete, "/Groups/"+gid, nil)
		c.wantError(http.StatusNotFound, "", http.MethodGet, "/Groups/"+gid, nil)
	})

	t.Run("delete", func(t *testing.T) {
		c := &scimClient{t: t, base: c.base, token: c.token}
		// Alice signs in again (enabled by the Okta patch) for a grant.
		authURL, f := r.authURL()
		r.exchange(b.signIn(authURL), f)
		if countWhere(t, app, "credentials", "user_id = ?", aliceID) == 0 || countWhere(t, app, "grants", "user_id = ?", aliceID) == 0 {
			t.Fatal("alice has no passkey or grant to delete")
		}
		c.must(http.StatusNoContent, http.MethodDelete, "/Users/"+aliceID, nil)
		c.wantError(http.StatusNotFound, "", http.MethodGet, "/Users/"+aliceID, nil)
		for _, table := range []string{"credentials", "grants", "sessions"} {
			if n := countWhere(t, app, table, "user_id = ?", aliceID); n != 0 {
				t.Errorf("%d %s rows left of the deleted user", n, table)
			}
		}
		c.wantError(http.StatusNotFound, "", http.MethodDelete, "/Users/"+aliceID, nil)
	})

	t.Run("audit", func(t *testing.T) {
		evs, _, err := app.db.QueryAudit(ctx, models.AuditQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, ev := range evs {
			if ev.ActorID == "scim:entra" {
				seen[ev.Type]++
				if ev.Detail["scim_token"] != tok.ID {
					t.Errorf("%s event without the token's ID: %v", ev.Type, ev.Detail)
				}
			}
		}
		for _, typ := range []string{models.EventUserCreated, models.EventUserUpdated, models.EventUserDisabled, models.EventUserEnabled,
			models.EventUserDeleted, models.EventGroupCreated, models.EventGroupUpdated, models.EventGroupDeleted} {
			if seen[typ] == 0 {
				t.Errorf("no %s event by scim:entra (%v)", typ, seen)
			}
		}
	})

	t.Run("revoked token", func(t *testing.T) {
		if err := app.db.RevokeSCIMToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		(&scimClient{t: t, base: c.base, token: c.token}).wantError(http.StatusUnauthorized, "", http.MethodGet, "/Users", nil)
	})
}

// TestSCIMOff: serve --scim=off serves no /scim/v2.
func TestSCIMOff(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.DisableSCIM = true })
	raw, _, err := app.db.CreateSCIMToken(context.Background(), "entra", "test")
	if err != nil {
		t.Fatal(err)
	}
	c := &scimClient{t: t, base: app.issuer + "/scim/v2", token: raw}
	c.wantError(http.StatusNotFound, "", http.MethodGet, "/Users", nil)
}

func countRows(t *testing.T, app *testApp, table string) int64 {
	t.Helper()
	return countWhere(t, app, table, "1 = 1")
}

func countWhere(t *testing.T, app *testApp, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := app.db.Gorm().Table(table).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSCIMTokensConsoleAndAPI: an admin issues SCIM tokens in the console
// and through /api/v1/scim-tokens (shown once, stored hashed), the
// directory uses them, and a revoked one is refused at once. Neither kind
// of token passes for the other.
func TestSCIMTokensConsoleAndAPI(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, root := adminWithConsole(t, app)

	body, csrf := b.adminPage(app.adminURL+"/admin/scim-tokens", http.StatusOK)
	if !strings.Contains(body, app.issuer+"/scim/v2") || !strings.Contains(body, "No SCIM tokens yet") {
		t.Fatalf("SCIM page:\n%s", body)
	}
	resp := b.postForm(app.adminURL+"/admin/scim-tokens", csrf, url.Values{"name": {"Entra ID"}})
	body = readBody(t, resp)
	m := newTokenRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || m == nil || !strings.HasPrefix(m[1], models.SCIMTokenPrefix) {
		t.Fatalf("create SCIM token = %d\n%s", resp.StatusCode, body)
	}
	consoleToken := m[1]
	resp = b.postForm(app.adminURL+"/admin/scim-tokens", csrf, url.Values{"name": {"Entra ID"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "exists") {
		t.Fatalf("duplicate name = %d\n%s", resp.StatusCode, body)
	}
	resp = b.postForm(app.adminURL+"/admin/scim-tokens", csrf, url.Values{"name": {" "}})
	if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty name = %d", resp.StatusCode)
	}
	ts, _ := app.db.ListSCIMTokens(ctx)
	if len(ts) != 1 || bytes.Contains(ts[0].TokenHash, []byte(consoleToken)) || ts[0].CreatedBy != root.ID {
		t.Fatalf("stored SCIM tokens = %+v", ts)
	}
	if apiTokens, _ := app.db.ListAPITokens(ctx); len(apiTokens) != 0 {
		t.Fatalf("a SCIM token is listed as an API token: %+v", apiTokens)
	}
	sc := &scimClient{t: t, base: app.issuer + "/scim/v2", token: consoleToken}
	sc.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"schemas": []string{scimUserSchema}, "userName": "zoe"})

	// The API, with an admin API token (which SCIM refuses).
	apiToken, _, err := app.db.CreateAPIToken(ctx, "ci", root.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	(&scimClient{t: t, base: sc.base, token: apiToken}).wantError(http.StatusUnauthorized, "", http.MethodGet, "/Users", nil)
	var e map[string]string
	if st := apiCall(t, app, http.MethodGet, "/api/v1/scim-tokens", consoleToken, nil, &e); st != http.StatusUnauthorized {
		t.Fatalf("a SCIM token on /api/v1: %d", st)
	}
	var created admin.APISCIMToken
	if st := apiCall(t, app, http.MethodPost, "/api/v1/scim-tokens", apiToken, map[string]string{"name": "okta"}, &created); st != http.StatusCreated ||
		!strings.HasPrefix(created.Token, models.SCIMTokenPrefix) || created.State != "active" {
		t.Fatalf("API create: %d %+v", st, created)
	}
	if st := apiCall(t, app, http.MethodPost, "/api/v1/scim-tokens", apiToken, map[string]string{"name": "okta"}, &e); st != http.StatusConflict {
		t.Fatalf("API duplicate: %d %v", st, e)
	}
	var list struct {
		Tokens []admin.APISCIMToken `json:"scim_tokens"`
	}
	if st := apiCall(t, app, http.MethodGet, "/api/v1/scim-tokens", apiToken, nil, &list); st != http.StatusOK || len(list.Tokens) != 2 ||
		list.Tokens[0].Token != "" || list.Tokens[1].LastUsedAt == "" {
		t.Fatalf("API list: %d %+v", st, list)
	}
	oc := &scimClient{t: t, base: sc.base, token: created.Token}
	oc.must(http.StatusOK, http.MethodGet, "/Users", nil)
	if st := apiCall(t, app, http.MethodDelete, "/api/v1/scim-tokens/"+created.ID, apiToken, nil, nil); st != http.StatusNoContent {
		t.Fatalf("API revoke: %d", st)
	}
	oc.wantError(http.StatusUnauthorized, "", http.MethodGet, "/Users", nil)
	if st := apiCall(t, app, http.MethodDelete, "/api/v1/scim-tokens/"+created.ID, apiToken, nil, &e); st != http.StatusNotFound {
		t.Fatalf("API revoke twice: %d", st)
	}

	// Revoke in the console.
	body, csrf = b.adminPage(app.adminURL+"/admin/scim-tokens", http.StatusOK)
	if !strings.Contains(body, "Entra ID") || !strings.Contains(body, "revoked") {
		t.Fatalf("SCIM page lists:\n%s", body)
	}
	loc := b.expectRedirectAfter(app.adminURL+"/admin/scim-tokens/"+ts[0].ID+"/revoke", csrf, url.Values{})
	if !strings.Contains(loc, "done=scim-token-revoked") {
		t.Fatalf("revoke redirected to %s", loc)
	}
	sc.wantError(http.StatusUnauthorized, "", http.MethodGet, "/Users", nil)
	evs, _, _ := app.db.QueryAudit(ctx, models.AuditQuery{Type: models.EventSCIMTokenRevoked})
	if len(evs) != 2 || evs[0].ActorID != root.ID || evs[1].ActorID == "" {
		t.Errorf("revocations audited: %+v", evs)
	}
}

// TestSCIMStorageOutage: with the database unreachable, a directory gets a
// SCIM error saying so (503, Retry-After), not a 401 that would make it
// think its token was revoked.
func TestSCIMStorageOutage(t *testing.T) {
	app := newTestApp(t)
	raw, _, err := app.db.CreateSCIMToken(context.Background(), "entra", "test")
	if err != nil {
		t.Fatal(err)
	}
	c := &scimClient{t: t, base: app.issuer + "/scim/v2", token: raw}
	c.must(http.StatusOK, http.MethodGet, "/Users", nil)
	for _, p := range app.db.Pools() {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	st, out, h := c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "x"`), nil)
	if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || out["status"] != "503" {
		t.Fatalf("during an outage: %d %v %v", st, h, out)
	}
}

// TestSCIMRateLimited: a directory over its rate limit gets a SCIM error
// (429 with Retry-After), not an HTML page.
func TestSCIMRateLimited(t *testing.T) {
	app := newTestApp(t, func(c *Config) {
		c.RateLimits = RateLimits{Limits: map[string]RateLimit{RateLimitSCIM: {Requests: 2, Window: time.Minute}}}
	})
	raw, _, err := app.db.CreateSCIMToken(context.Background(), "entra", "test")
	if err != nil {
		t.Fatal(err)
	}
	c := &scimClient{t: t, base: app.issuer + "/scim/v2", token: raw}
	c.must(http.StatusOK, http.MethodGet, "/Users", nil)
	c.must(http.StatusOK, http.MethodGet, "/Groups", nil)
	st, out, h := c.do(http.MethodGet, "/Users", nil)
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" || out["status"] != "429" {
		t.Fatalf("over the limit: %d %v %v", st, h, out)
	}
}
