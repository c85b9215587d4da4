package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/models"
)

// Recovery can be turned off per group (issue 22): the console's group page
// sets it (audited); a member of such a group is sent nothing while the
// requester sees the usual answer, and the refusal is audited; others in
// the same request still get their link; a bad value changes nothing.
func TestRecoveryOffForAGroup(t *testing.T) {
	mp := mailtest.Start(t)
	app := newAdminApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	ctx := context.Background()
	b, _ := adminWithConsole(t, app)
	vip, _ := app.newUser("vip", false)
	if err := app.db.SetUserGroups(ctx, vip.ID, []string{"staff", "vips"}); err != nil {
		t.Fatal(err)
	}
	app.newUser("pat", false)
	var vips models.Group
	if err := app.db.Gorm().Where("name = ?", "vips").First(&vips).Error; err != nil {
		t.Fatal(err)
	}

	page := app.adminURL + "/admin/groups/" + vips.ID
	body, csrf := b.adminPage(page, http.StatusOK)
	if !strings.Contains(body, `name="recovery" value="on" checked`) {
		t.Fatalf("a new group does not show recovery on:\n%s", body)
	}
	resp := b.postForm(page+"/recovery", csrf, url.Values{"recovery": {"maybe"}})
	if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("recovery=maybe answered %d", resp.StatusCode)
	}
	if off, _ := app.db.RecoveryDisabledFor(ctx, vip.ID); off {
		t.Fatal("a refused form changed the setting")
	}
	resp = b.postForm(page+"/recovery", csrf, url.Values{"recovery": {"off"}})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("recovery=off answered %d", resp.StatusCode)
	}
	body, _ = b.adminPage(page, http.StatusOK)
	if !strings.Contains(body, `value="off" id="recovery-off" checked`) {
		t.Fatal("the group page does not show recovery off")
	}

	visitor := app.newBrowser()
	_, vipAnswer := recoverPost(t, visitor, "vip@example.com")
	_, patAnswer := recoverPost(t, visitor, "pat@example.com")
	if vipAnswer != strings.Replace(patAnswer, "pat@example.com", "vip@example.com", 1) {
		t.Fatalf("the answers differ:\n%s\n---\n%s", vipAnswer, patAnswer)
	}
	mp.Wait(t, "pat@example.com", 1, 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // a round of the mail job
	if msgs, _ := mp.To("vip@example.com"); len(msgs) != 0 {
		t.Fatalf("a member of a group without recovery got %d messages", len(msgs))
	}
	var refused, changed int64
	app.db.Gorm().Model(&models.AuditEvent{}).Where("type = ? AND user_id = ?", EventRecoveryRefused, vip.ID).Count(&refused)
	app.db.Gorm().Model(&models.AuditEvent{}).Where("type = ?", models.EventGroupUpdated).Count(&changed)
	if refused != 1 || changed != 1 {
		t.Fatalf("audit: %d recovery_refused, %d group_updated", refused, changed)
	}

	// On again: the member can recover.
	_, csrf = b.adminPage(page, http.StatusOK)
	if on := b.postForm(page+"/recovery", csrf, url.Values{"recovery": {"on"}}); readBody(t, on) != "" && on.StatusCode != http.StatusSeeOther {
		t.Fatalf("recovery=on answered %d", on.StatusCode)
	}
	recoverPost(t, app.newBrowser(), "vip@example.com")
	mp.Wait(t, "vip@example.com", 1, 10*time.Second)
}

// The API reads and sets a group's recovery setting (PATCH
// recovery_disabled), alone or with a rename; a bad name changes nothing.
func TestAPIGroupRecovery(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	token, _, err := app.db.CreateAPIToken(ctx, "ci", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := app.db.CreateGroup(ctx, "admins")
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/groups/"+g.ID, token, map[string]any{"recovery_disabled": true}, &out); st != http.StatusOK ||
		out["recovery_disabled"] != true || out["name"] != "admins" {
		t.Fatalf("PATCH recovery_disabled: %d %v", st, out)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/groups/"+g.ID, token, map[string]any{"name": "ops", "recovery_disabled": false}, &out); st != http.StatusOK ||
		out["recovery_disabled"] != false || out["name"] != "ops" {
		t.Fatalf("PATCH both: %d %v", st, out)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/groups/"+g.ID, token, map[string]any{"name": "a,b", "recovery_disabled": true}, nil); st < 400 {
		t.Fatalf("a bad name was accepted: %d", st)
	}
	if got, _ := app.db.GroupByID(ctx, g.ID); got.Name != "ops" || got.RecoveryDisabled {
		t.Fatalf("a refused PATCH changed the group: %+v", got)
	}
}
