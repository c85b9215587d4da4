package admin

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// Sign-up links let people sign up under `serve --signup=invite`
// (idp/signup.go): each allows a number of sign-ups until it expires; only
// its hash is stored, so the link is shown once.

// signupLinksShown bounds the links the page and the API list.
const signupLinksShown = 200

type signupLinkRow struct {
	models.SignupLink
	Created, Expires, State string
}

type adminSignupLinksPage struct {
	adminBase
	Policy  string
	Domains string
	Fixed   bool
	Links   []signupLinkRow
	Uses    string
	Hours   string
	Created string // the new link, shown once
}

func (s *Handlers) renderSignupLinks(c echo.Context, status int, p *adminSignupLinksPage) error {
	ls, err := s.db.SignupLinks(c.Request().Context(), signupLinksShown)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	for _, l := range ls {
		p.Links = append(p.Links, signupLinkRow{SignupLink: l, Created: web.FormatTime(l.CreatedAt), Expires: web.FormatTime(l.ExpiresAt),
			State: l.State(now)})
	}
	policy, domains, fixed, err := s.signup.Policy(c.Request().Context())
	if err != nil {
		return err
	}
	p.Policy, p.Fixed = policy, fixed
	if p.Domains == "" {
		p.Domains = strings.Join(domains, ", ")
	}
	return s.Render(c, status, "admin_signup_links", p)
}

// HandleSignupLinksList serves GET /admin/signup-links.
func (s *Handlers) HandleSignupLinksList(c echo.Context) error {
	return s.renderSignupLinks(c, http.StatusOK, &adminSignupLinksPage{adminBase: s.adminBase(c, "signup"), Uses: "1", Hours: "72"})
}

// HandleSignupLinkCreate serves POST /admin/signup-links (uses, hours).
func (s *Handlers) HandleSignupLinkCreate(c echo.Context) error {
	p := &adminSignupLinksPage{adminBase: s.adminBase(c, "signup"), Uses: c.FormValue("uses"), Hours: c.FormValue("hours")}
	uses, err1 := strconv.Atoi(p.Uses)
	hours, err2 := strconv.Atoi(p.Hours)
	if err1 != nil || err2 != nil || hours < 1 || hours > 8784 {
		p.Error = "Give the number of sign-ups (1 to 10000) and the hours the link works (1 to 8784)."
		return s.renderSignupLinks(c, http.StatusBadRequest, p)
	}
	raw, l, err := s.db.CreateSignupLink(c.Request().Context(), uses, time.Duration(hours)*time.Hour, currentAdmin(c).ID)
	if err != nil {
		if msg := userMessage(err); msg != "" {
			p.Error = msg
			return s.renderSignupLinks(c, http.StatusBadRequest, p)
		}
		return err
	}
	s.adminAudit(c, models.EventSignupLinkAdded, models.AuditEvent{Detail: models.JSONMap{"signup_link": l.ID, "max_uses": l.MaxUses,
		"expires_at": l.ExpiresAt}})
	p.Created = s.cfg.Issuer + "/signup/" + raw
	return s.renderSignupLinks(c, http.StatusCreated, p)
}

// HandleSignupPolicySet serves POST /admin/signup-policy (policy,
// domains): the policy of a server without --signup, audited.
func (s *Handlers) HandleSignupPolicySet(c echo.Context) error {
	p := &adminSignupLinksPage{adminBase: s.adminBase(c, "signup"), Uses: "1", Hours: "72", Domains: c.FormValue("domains")}
	var domains []string
	for _, d := range strings.Split(p.Domains, ",") {
		if d = strings.TrimSpace(d); d != "" {
			domains = append(domains, d)
		}
	}
	if err := s.signup.Set(c.Request().Context(), c.FormValue("policy"), domains, currentAdmin(c).ID); err != nil {
		if msg := userMessage(err); msg != "" {
			p.Error = msg
			return s.renderSignupLinks(c, http.StatusBadRequest, p)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/signup-links")
}

// HandleSignupLinkRevoke serves POST /admin/signup-links/:id/revoke.
func (s *Handlers) HandleSignupLinkRevoke(c echo.Context) error {
	if err := s.db.RevokeSignupLink(c.Request().Context(), c.Param("id")); err != nil {
		return web.NotFound("sign-up link", err)
	}
	s.adminAudit(c, models.EventSignupLinkRevoked, models.AuditEvent{Detail: models.JSONMap{"signup_link": c.Param("id")}})
	return c.Redirect(http.StatusSeeOther, "/admin/signup-links")
}

// APISignupLink is a sign-up link in the admin API (docs/openapi.yaml);
// URL is set only in the answer that creates it.
type APISignupLink struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Uses      int    `json:"uses"`
	MaxUses   int    `json:"max_uses"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at"`
	URL       string `json:"url,omitempty"`
}

func (s *Handlers) toAPISignupLink(l *models.SignupLink) APISignupLink {
	const layout = "2006-01-02T15:04:05Z"
	return APISignupLink{ID: l.ID, State: l.State(s.cfg.Now()), Uses: l.Uses, MaxUses: l.MaxUses,
		CreatedAt: l.CreatedAt.UTC().Format(layout), ExpiresAt: l.ExpiresAt.UTC().Format(layout)}
}

// HandleAPISignupLinksList serves GET /api/v1/signup-links: the newest
// links first (at most 200).
func (s *Handlers) HandleAPISignupLinksList(c echo.Context) error {
	ls, err := s.db.SignupLinks(c.Request().Context(), signupLinksShown)
	if err != nil {
		return err
	}
	out := make([]APISignupLink, len(ls))
	for i := range ls {
		out[i] = s.toAPISignupLink(&ls[i])
	}
	return c.JSON(http.StatusOK, apiList{"signup_links": out})
}

// HandleAPISignupLinkCreate serves POST /api/v1/signup-links {"max_uses":
// N, "expires_in": "72h"}: the answer holds the link, the only time it is
// shown.
func (s *Handlers) HandleAPISignupLinkCreate(c echo.Context) error {
	var in struct {
		MaxUses   int    `json:"max_uses"`
		ExpiresIn string `json:"expires_in"`
	}
	if err := web.DecodeJSON(c, &in); err != nil {
		return err
	}
	ttl, err := time.ParseDuration(in.ExpiresIn)
	if err != nil {
		return web.NewError(http.StatusUnprocessableEntity, "expires_in must be a duration such as 72h", err)
	}
	raw, l, err := s.db.CreateSignupLink(c.Request().Context(), in.MaxUses, ttl, actorID(c))
	if err != nil {
		return apiError(err, "sign-up link")
	}
	s.adminAudit(c, models.EventSignupLinkAdded, models.AuditEvent{Detail: models.JSONMap{"signup_link": l.ID, "max_uses": l.MaxUses,
		"expires_at": l.ExpiresAt}})
	out := s.toAPISignupLink(l)
	out.URL = s.cfg.Issuer + "/signup/" + raw
	return c.JSON(http.StatusCreated, out)
}

// HandleAPISignupLinkRevoke serves DELETE /api/v1/signup-links/:id.
func (s *Handlers) HandleAPISignupLinkRevoke(c echo.Context) error {
	if err := s.db.RevokeSignupLink(c.Request().Context(), c.Param("id")); err != nil {
		return apiError(err, "sign-up link")
	}
	s.adminAudit(c, models.EventSignupLinkRevoked, models.AuditEvent{Detail: models.JSONMap{"signup_link": c.Param("id")}})
	return c.NoContent(http.StatusNoContent)
}
