package mail

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/models"
)

// TestLogoRemovedBeforeDelivery: a message queued while a logo was set
// but sent after it was removed carries no inline part and no image that
// points at one; one sent with the logo set carries it. A colour that is
// not #rrggbb never reaches the HTML.
func TestLogoRemovedBeforeDelivery(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, sealer := openDB(t, clk)
	mp := mailtest.Start(t)
	var logs bytes.Buffer
	m := newMailer(t, mp, clk, sealer, &logs)
	cur := &models.Branding{ProductName: "Acme ID", Accent: "red;background:url(https://x)", Logo: []byte("\x89PNG fake"), LogoType: "image/png"}
	m.SetBrand(func() *models.Branding { return cur })

	queueInvite(t, m, db, newUser(t, db, "kept", "kept@example.com"))
	queueInvite(t, m, db, newUser(t, db, "second", "second@example.com"))
	if _, err := m.Deliver(ctx, db); err != nil { // sends both with the logo
		t.Fatal(err)
	}
	kept := mp.Wait(t, "kept@example.com", 1, 5*time.Second)[0]
	if len(kept.Inline) != 1 || !strings.Contains(kept.HTML, `src="cid:`+LogoCID+`"`) || !strings.Contains(kept.HTML, defaultAccent) ||
		strings.Contains(kept.HTML, "url(") || kept.Subject != "Set up your passkey for Acme ID" {
		t.Fatalf("with the logo: %d inline parts, %q\n%s", len(kept.Inline), kept.Subject, kept.HTML)
	}

	queueInvite(t, m, db, newUser(t, db, "later", "later@example.com"))
	cur = &models.Branding{ProductName: "Acme ID"}
	if _, err := m.Deliver(ctx, db); err != nil {
		t.Fatal(err)
	}
	later := mp.Wait(t, "later@example.com", 1, 5*time.Second)[0]
	if len(later.Inline) != 0 || strings.Contains(later.HTML, "cid:") || !strings.Contains(later.HTML, "Acme ID</strong>") {
		t.Fatalf("after the logo was removed: %d inline parts\n%s", len(later.Inline), later.HTML)
	}
}
