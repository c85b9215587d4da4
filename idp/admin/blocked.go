package admin

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// Passkeys blocked as suspected clones. A sign count that did not increase
// (WebAuthn L3 §6.1.1, §7.2 step 22) blocks the passkey until an admin
// reviews it: the overview lists each with its owner, and the owner's page
// unblocks it (with a reason, audited) or revokes it.

// blockedShown is how many blocked passkeys the overview lists.
const blockedShown = 20

// maxUnblockReason bounds the reason an admin gives for unblocking.
const maxUnblockReason = 500

type blockedRow struct {
	UserID, Username, Name, Created, LastUsed string
}

// blockedRows returns up to blockedShown blocked passkeys and whether more
// exist.
func (s *Handlers) blockedRows(c echo.Context) ([]blockedRow, bool, error) {
	bs, err := s.db.BlockedPasskeys(c.Request().Context(), blockedShown+1)
	if err != nil {
		return nil, false, err
	}
	more := len(bs) > blockedShown
	if more {
		bs = bs[:blockedShown]
	}
	rows := make([]blockedRow, 0, len(bs))
	for _, b := range bs {
		r := blockedRow{UserID: b.UserID, Username: b.Username, Name: b.Name, Created: web.FormatTime(b.CreatedAt), LastUsed: "never"}
		if b.LastUsedAt != nil {
			r.LastUsed = web.FormatTime(*b.LastUsedAt)
		}
		rows = append(rows, r)
	}
	return rows, more, nil
}

// unblockReason checks the reason of an unblock form: required, one line
// of printable text, at most maxUnblockReason characters. It returns the
// reason, or "" and the message for the admin.
func unblockReason(raw string) (reason, problem string) {
	r := strings.TrimSpace(raw)
	switch {
	case r == "":
		return "", "Give a reason for unblocking the passkey (it is kept in the audit log)."
	case !utf8.ValidString(r) || utf8.RuneCountInString(r) > maxUnblockReason:
		return "", "The reason must be text of at most 500 characters."
	case strings.IndexFunc(r, unicode.IsControl) >= 0:
		return "", "The reason must be one line of text."
	}
	return r, ""
}

// HandlePasskeyUnblock serves POST /admin/users/:id/passkeys/:cid/unblock:
// it clears the passkey's clone warning and stored sign count after an
// admin's review, and audits who did it and why.
func (s *Handlers) HandlePasskeyUnblock(c echo.Context) error {
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	reason, problem := unblockReason(c.FormValue("reason"))
	if problem != "" {
		return &web.Error{Status: http.StatusBadRequest, Message: problem, Hint: "Go back to the user's page and fill in the reason."}
	}
	if err := s.db.UnblockCredential(c.Request().Context(), u.ID, c.Param("cid")); err != nil {
		return web.NotFound("blocked passkey", err)
	}
	s.adminAudit(c, models.EventPasskeyUnblocked, models.AuditEvent{UserID: u.ID,
		Detail: models.JSONMap{"credential": c.Param("cid"), "reason": reason}})
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+u.ID+"?done=passkey-unblocked")
}
