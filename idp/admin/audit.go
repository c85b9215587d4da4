package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

type auditRow struct {
	models.AuditEvent
	When, Detail, UserName, ActorName string
	ClientName                        string // the application's name, if it still exists
}

type adminAuditPage struct {
	adminBase
	Filter           auditFilterForm
	Types            []string
	Events           []auditRow
	NextURL, Export  string
	NewerURL         string
	FilterUserLookup string
}

type auditFilterForm struct{ User, Type, Since, Until string }

// parseAuditFilter reads ?user=&type=&since=&until=&before=&after= (dates as
// YYYY-MM-DD, UTC; until is inclusive). user may be an ID or a username.
func (s *Handlers) parseAuditFilter(c echo.Context) (models.AuditQuery, auditFilterForm, error) {
	f := auditFilterForm{User: strings.TrimSpace(c.QueryParam("user")), Type: c.QueryParam("type"),
		Since: c.QueryParam("since"), Until: c.QueryParam("until")}
	q := models.AuditQuery{Type: f.Type, Limit: 50}
	if f.User != "" {
		if u, err := s.db.UserByUsername(c.Request().Context(), f.User); err == nil {
			q.UserID = u.ID
		} else {
			q.UserID = f.User
		}
	}
	for _, d := range []struct {
		raw string
		dst *time.Time
		add int
	}{{f.Since, &q.Since, 0}, {f.Until, &q.Until, 1}} {
		if d.raw == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", d.raw)
		if err != nil {
			return q, f, web.NewError(http.StatusBadRequest, "Dates must be given as YYYY-MM-DD.", err)
		}
		*d.dst = t.AddDate(0, 0, d.add)
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"before", &q.BeforeID}, {"after", &q.AfterID}} {
		raw := c.QueryParam(p.name)
		if raw == "" {
			continue
		}
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id < 1 {
			return q, f, web.NewError(http.StatusBadRequest, "The "+p.name+" cursor must be an event ID (a positive whole number).", err)
		}
		*p.dst = id
	}
	return q, f, nil
}

// HandleAuditList serves GET /admin/audit.
func (s *Handlers) HandleAuditList(c echo.Context) error {
	ctx := c.Request().Context()
	q, f, err := s.parseAuditFilter(c)
	if err != nil {
		return err
	}
	evs, more, err := s.db.QueryAudit(ctx, q)
	if err != nil {
		return err
	}
	types, err := s.db.AuditTypes(ctx)
	if err != nil {
		return err
	}
	p := &adminAuditPage{adminBase: s.adminBase(c, "audit"), Filter: f, Types: types}
	names := map[string]string{}
	name := func(id string) string {
		if id == "" || strings.HasPrefix(id, "api:") || id == "test" || id == "bootstrap" || id == "cli" {
			return id
		}
		if n, ok := names[id]; ok {
			return n
		}
		n := id
		if u, err := s.db.UserByID(ctx, id); err == nil {
			n = u.Username
		}
		names[id] = n
		return n
	}
	clients := map[string]string{}
	clientName := func(id string) string {
		if id == "" {
			return ""
		}
		n, ok := clients[id]
		if !ok {
			if cl, err := s.db.ClientByID(ctx, id); err == nil {
				n = cl.Name
			}
			clients[id] = n
		}
		return n
	}
	for _, ev := range evs {
		d, _ := json.Marshal(ev.Detail)
		p.Events = append(p.Events, auditRow{AuditEvent: ev, When: web.FormatTime(ev.CreatedAt), Detail: string(d),
			UserName: name(ev.UserID), ActorName: name(ev.ActorID), ClientName: clientName(ev.ClientID)})
	}
	v := url.Values{"user": {f.User}, "type": {f.Type}, "since": {f.Since}, "until": {f.Until}}
	p.Export = "/admin/audit/export?" + v.Encode()
	p.NewerURL, p.NextURL = auditLinks(v, q, evs, more)
	return s.Render(c, http.StatusOK, "admin_audit", p)
}

// auditLinks returns the links to the newer and the older page of events
// (read with q; more: events lie beyond them in the direction read), both
// keyed by an event ID, keeping the filter v.
func auditLinks(v url.Values, q models.AuditQuery, evs []models.AuditEvent, more bool) (newer, older string) {
	if len(evs) == 0 {
		return "", ""
	}
	link := func(k string, id int64) string {
		w := url.Values{}
		for name, vals := range v {
			if vals[0] != "" {
				w[name] = vals
			}
		}
		w.Set(k, strconv.FormatInt(id, 10))
		return "/admin/audit?" + w.Encode()
	}
	readNewer := q.BeforeID <= 0 && q.AfterID > 0
	if (readNewer && more) || q.BeforeID > 0 {
		newer = link("after", evs[0].ID)
	}
	if (!readNewer && more) || readNewer {
		older = link("before", evs[len(evs)-1].ID)
	}
	return newer, older
}

// HandleAuditExport streams the filtered events as JSON lines
// (newest first), up to 100 000 events.
func (s *Handlers) HandleAuditExport(c echo.Context) error {
	q, _, err := s.parseAuditFilter(c)
	if err != nil {
		return err
	}
	return s.writeAuditLines(c, q, maxAuditExport)
}

// maxAuditExport is the most events one export or API answer holds; the
// next one continues with before= the last ID received.
const maxAuditExport = 100_000

// writeAuditLines streams up to limit matching events as JSON lines, newest
// first, reading them a page of 1000 at a time (memory stays one page).
func (s *Handlers) writeAuditLines(c echo.Context, q models.AuditQuery, limit int) error {
	ctx := c.Request().Context()
	h := c.Response().Header()
	h.Set("Content-Type", "application/jsonl; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="latchkey-audit.jsonl"`)
	c.Response().WriteHeader(http.StatusOK)
	enc := json.NewEncoder(c.Response())
	for left := limit; left > 0; {
		q.Limit = min(1000, left)
		evs, more, err := s.db.QueryAudit(ctx, q)
		if err != nil {
			// The 200 is sent, so the error handler drops what is returned
			// (the response is committed): log the cut-short export here.
			if ctx.Err() == nil {
				s.cfg.Logger.Error("audit export failed", "request_id", h.Get(echo.HeaderXRequestID), "err", err)
			}
			return err
		}
		for _, ev := range evs {
			if err := enc.Encode(auditJSON(ev)); err != nil {
				// auditJSON always marshals, so this is a failed write: the
				// client went away and there is no one left to answer.
				return nil //nolint:nilerr // a write to a committed response failed (client gone): nothing to report to it, and not a server error
			}
		}
		if left -= len(evs); !more {
			break
		}
		q.BeforeID = evs[len(evs)-1].ID
	}
	return nil
}

func auditJSON(ev models.AuditEvent) map[string]any {
	return map[string]any{"id": ev.ID, "time": ev.CreatedAt.UTC(), "type": ev.Type, "success": ev.Success,
		"user_id": ev.UserID, "actor_id": ev.ActorID, "client_id": ev.ClientID, "ip": ev.IP, "detail": ev.Detail}
}

type adminOverviewPage struct {
	adminBase
	Counts *models.Counts
	Chart  template.HTML
	Total  int
	// Refused lists the refused sign-ins of the last 24 hours by kind.
	Refused []refusedCount
	// Blocked lists passkeys blocked as suspected clones (blocked.go).
	Blocked     []blockedRow
	MoreBlocked bool
	// Undeliverable is how many messages were given up (up to
	// overviewMailCap, MoreUndeliverable past it): the console says so
	// at once rather than only on the Mail page.
	Undeliverable     int
	MoreUndeliverable bool
	policyInfo        // admin.go
}

// overviewMailCap bounds the undeliverable messages the overview counts:
// a page by key, never a COUNT of the outbox.
const overviewMailCap = 20

// overviewFresh is how long the overview's totals are reused: counting a
// million users or a month of sign-ins takes a moment, so one admin
// reloading the page does not count them again.
const overviewFresh = time.Minute

// overviewFigures are the overview's totals, computed at most once per
// overviewFresh (one entry: the cache does not grow).
type overviewFigures struct {
	at      time.Time
	counts  *models.Counts
	days    []models.DayCount
	refused []refusedCount
}

// refusedCount is how many events of one kind failed in the last 24
// hours, up to refusedCap (More: there were more).
type refusedCount struct {
	ID, Label, Type string
	N               int
	More            bool
}

// refusedCap bounds the count of each kind: an attack's thousands of
// refusals are shown as "1000+", without counting them all.
const refusedCap = 1000

// refusedKinds are the failures the overview counts: refused sign-ins
// (failed ceremonies such as an unknown passkey or a bad signature,
// passkeys blocked as suspected clones, passkeys the policy refused) and
// back-channel logouts an application's receiver did not take (each
// attempt; the audit log says which application, never why).
var refusedKinds = []refusedCount{
	{ID: "count-failed", Label: "Failed sign-ins (24 h)", Type: models.EventSignInFailed},
	{ID: "count-clones", Label: "Clone warnings (24 h)", Type: models.EventCloneWarning},
	{ID: "count-policy", Label: "Refused by policy (24 h)", Type: models.EventPasskeyPolicyRefused},
	{ID: "count-backchannel", Label: "Failed back-channel logouts (24 h)", Type: oidc.EventBackchannelLogout},
}

// overview returns the overview's totals, from the cache when fresh.
func (s *Handlers) overview(ctx context.Context) (*overviewFigures, error) {
	now := s.cfg.Now()
	if f := s.overviewCache.Load(); f != nil && now.Sub(f.at) < overviewFresh && !now.Before(f.at) {
		return f, nil
	}
	f := &overviewFigures{at: now}
	var err error
	if f.counts, err = s.db.CountAll(ctx); err != nil {
		return nil, err
	}
	if f.days, err = s.db.SignInsPerDay(ctx, 30); err != nil {
		return nil, err
	}
	for _, k := range refusedKinds {
		if k.N, k.More, err = s.db.CountRecentAudit(ctx, k.Type, false, now.Add(-24*time.Hour), refusedCap); err != nil {
			return nil, err
		}
		f.refused = append(f.refused, k)
	}
	s.overviewCache.Store(f)
	return f, nil
}

// HandleOverviewShow serves GET /admin.
func (s *Handlers) HandleOverviewShow(c echo.Context) error {
	ctx := c.Request().Context()
	f, err := s.overview(ctx)
	if err != nil {
		return err
	}
	p := &adminOverviewPage{adminBase: s.adminBase(c, "overview"), Counts: f.counts, Chart: signInChart(f.days), Refused: f.refused}
	for _, d := range f.days {
		p.Total += d.Count
	}
	if p.Blocked, p.MoreBlocked, err = s.blockedRows(c); err != nil {
		return err
	}
	mail, more, err := s.db.UndeliverableMail(ctx, models.PageQuery{Limit: overviewMailCap})
	if err != nil {
		return err
	}
	p.Undeliverable, p.MoreUndeliverable = len(mail), more
	p.policyInfo = s.policyInfo(ctx)
	return s.Render(c, http.StatusOK, "admin_overview", p)
}

// signInChart draws sign-ins per day as an inline SVG bar chart. Every
// value in it is a number or a date formatted here, so it is safe HTML.
//
// Labels never overlap and stay readable (a Chromium test measures them
// at 390 and 1280 px): app.css sets them in 11 units, or 24 on narrow
// screens, where the chart is shrunk to half its size. The value axis is
// as wide as its longest number in the larger size, right-aligned left of
// the bars; a date labels every seventh bar counted back from today,
// centred under it (today's right-aligned at the chart's edge), so labels
// stand seven bars (161 units) apart, wider than the longest date.
func signInChart(days []models.DayCount) template.HTML {
	const w, h, bottom, digit = 720, 200, 40, 15
	top := 1
	for _, d := range days {
		top = max(top, d.Count)
	}
	pad := max(28, digit*len(strconv.Itoa(top))+8)
	bw := float64(w-pad) / float64(max(len(days), 1))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title"><title id="chart-title">Successful sign-ins per day, last %d days</title>`, w, h+bottom, len(days))
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, pad, h, w, h)
	fmt.Fprintf(&b, `<text class="label" x="%d" y="26" text-anchor="end">%d</text><text class="label" x="%d" y="%d" text-anchor="end">0</text>`, pad-4, top, pad-4, h)
	for i, d := range days {
		bh := float64(d.Count) / float64(top) * float64(h-16)
		x := float64(pad) + float64(i)*bw
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
			x+1, float64(h)-bh, max(bw-2, 0.5), bh, d.Day.Format("2006-01-02"), d.Count)
		switch back := len(days) - 1 - i; {
		case back == 0:
			fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%s</text>`, w, h+32, d.Day.Format("Jan 2"))
		case back%7 == 0:
			fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x+bw/2, h+32, d.Day.Format("Jan 2"))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // G203: built here from numbers and dates formatted with fixed layouts; no input text reaches it
}

type keyRow struct {
	ID, Algorithm, Created, Activates, State, Until string
}

type adminKeysPage struct {
	adminBase
	Keys []keyRow
}

func (s *Handlers) keyRows(c echo.Context) ([]keyRow, error) {
	ks, err := s.db.PublishedSigningKeys(c.Request().Context())
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := make([]keyRow, 0, len(ks))
	for _, k := range ks {
		r := keyRow{ID: k.ID, Algorithm: k.Algorithm, Created: web.FormatTime(k.CreatedAt), Activates: web.FormatTime(k.ActivatesAt)}
		switch {
		case now.Before(k.ActivatesAt):
			r.State = "next (published, not signing yet)"
		case k.RetiresAt == nil || now.Before(*k.RetiresAt):
			r.State = "active (signing)"
		default:
			r.State = "retired (published for verification)"
		}
		r.Until = web.FormatTimePtr(k.ExpiresAt)
		out = append(out, r)
	}
	return out, nil
}

// HandleKeysList serves GET /admin/keys.
func (s *Handlers) HandleKeysList(c echo.Context) error {
	rows, err := s.keyRows(c)
	if err != nil {
		return err
	}
	return s.Render(c, http.StatusOK, "admin_keys", &adminKeysPage{adminBase: s.adminBase(c, "keys"), Keys: rows})
}

// HandleKeysRotate serves POST /admin/keys/rotate.
func (s *Handlers) HandleKeysRotate(c echo.Context) error {
	if err := s.op.RotateKeys(c.Request().Context(), actorID(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/keys?done=keys-rotated")
}
