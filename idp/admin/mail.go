package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
)

// Mail is what the console needs of email delivery (wired in idp).
type Mail struct {
	// Invite issues a new setup link for u and queues it by email in one
	// transaction (idp.Invite), returning the message ID and the link's
	// expiry; the link itself is never returned.
	Invite func(ctx context.Context, u *models.User, actor string) (mailID string, expires time.Time, err error)
	// Sends reports whether this server has an SMTP server (--smtp-url).
	Sends bool
}

// ErrMailOff is returned by Invite when the server sends no mail.
var ErrMailOff = errors.New("email is not configured on this server: start it with --smtp-url and --smtp-from")

// invite runs Mail.Invite and turns its refusals into errors with a
// status: 409 without SMTP, for a disabled user or one without an
// address; 422 for an address or name that cannot be mailed.
func (s *Handlers) invite(ctx context.Context, u *models.User, actor string) (string, time.Time, error) {
	switch {
	case !s.mail.Sends || s.mail.Invite == nil:
		return "", time.Time{}, web.NewError(http.StatusConflict, ErrMailOff.Error(), ErrMailOff)
	case u.Disabled:
		return "", time.Time{}, web.NewError(http.StatusConflict, "the user is disabled; enable the account before inviting", nil)
	}
	id, exp, err := s.mail.Invite(ctx, u, actor)
	switch {
	case errors.Is(err, mail.ErrNoAddress):
		return "", time.Time{}, web.NewError(http.StatusConflict, "the user has no email address; add one, or issue a setup link instead", err)
	case errors.Is(err, models.ErrInvalid):
		return "", time.Time{}, web.NewError(http.StatusUnprocessableEntity, "this user cannot be mailed: "+err.Error(), err)
	}
	return id, exp, err
}

// inviteFromConsole serves POST /admin/users/:id/invite (HandleUserAction).
func (s *Handlers) inviteFromConsole(c echo.Context, u *models.User) error {
	if _, _, err := s.invite(c.Request().Context(), u, currentAdmin(c).ID); err != nil {
		var we *web.Error
		if errors.As(err, &we) && we.Status < 500 {
			return &web.Error{Status: we.Status, Message: we.Message, Hint: "Go back to the user's page.", Err: err}
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+u.ID+"?done=invitation-queued")
}

// HandleAPIInvitationCreate serves POST /api/v1/users/:id/invitations: a
// new one-time setup link sent to the user's address (202: queued; the
// outbox sends it). Earlier links stop working.
func (s *Handlers) HandleAPIInvitationCreate(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.db.UserByID(ctx, c.Param("id"))
	if err != nil {
		return apiError(err, "user")
	}
	id, exp, err := s.invite(ctx, u, actorID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"mail_id": id, "status": "queued", "email": u.Email,
		"expires_at": exp.UTC().Format(time.RFC3339)})
}

// MailRow is a message in the console and the API.
type MailRow struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	UserID    string `json:"user_id"`
	Recipient string `json:"recipient"`
	Subject   string `json:"subject"`
	Status    string `json:"status"`
	Attempts  int64  `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
	CreatedAt string `json:"created_at"`
	FailedAt  string `json:"failed_at,omitempty"`
	SentAt    string `json:"sent_at,omitempty"`
}

func toMailRow(m *models.OutboxMessage) MailRow {
	r := MailRow{ID: m.ID, Kind: m.Kind, UserID: m.UserID, Recipient: m.Recipient, Subject: m.Subject, Status: m.Status(),
		Attempts: m.Attempts, LastError: m.LastError, CreatedAt: m.CreatedAt.UTC().Format(time.RFC3339)}
	if m.FailedAt != nil {
		r.FailedAt = m.FailedAt.UTC().Format(time.RFC3339)
	}
	if m.SentAt != nil {
		r.SentAt = m.SentAt.UTC().Format(time.RFC3339)
	}
	return r
}

// HandleAPIUndeliverableMailList serves GET /api/v1/mail/undeliverable: a
// page of the messages given up, oldest first (?limit=, ?after=).
func (s *Handlers) HandleAPIUndeliverableMailList(c echo.Context) error {
	page, err := apiPage(c)
	if err != nil {
		return err
	}
	rows, more, err := s.db.UndeliverableMail(c.Request().Context(), page)
	if err != nil {
		return apiError(err, "mail")
	}
	out := make([]MailRow, len(rows))
	for i := range rows {
		out[i] = toMailRow(&rows[i])
	}
	return c.JSON(http.StatusOK, apiList{"mail": out, "next": apiNext(more, func() string { return rows[len(rows)-1].ID })})
}

type adminMailPage struct {
	adminBase
	Sends bool
	Rows  []MailRow
	pager
}

// HandleMailList serves GET /admin/mail: the undeliverable messages.
func (s *Handlers) HandleMailList(c echo.Context) error {
	p := consolePage(c)
	rows, more, err := s.db.UndeliverableMail(c.Request().Context(), p)
	if err != nil {
		return err
	}
	page := &adminMailPage{adminBase: s.adminBase(c, "mail"), Sends: s.mail.Sends}
	for i := range rows {
		page.Rows = append(page.Rows, toMailRow(&rows[i]))
	}
	first, last := "", ""
	if len(rows) > 0 {
		first, last = rows[0].ID, rows[len(rows)-1].ID
	}
	page.pager = links("/admin/mail", nil, p, more, first, last)
	return s.Render(c, http.StatusOK, "admin_mail", page)
}

// userMail is the user page's email section.
func (s *Handlers) userMail(ctx context.Context, userID string) ([]MailRow, error) {
	rows, err := s.db.RecentMailForUser(ctx, userID, 5)
	out := make([]MailRow, len(rows))
	for i := range rows {
		out[i] = toMailRow(&rows[i])
	}
	return out, err
}
