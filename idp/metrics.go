package idp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// metrics are the Prometheus series served on the internal listener's
// /metrics. Each Server has its own registry (tests run several servers in
// one process). Every label value comes from a bounded set: route
// patterns (never raw paths, which carry setup tokens), known grant types,
// audit event types and passkey failure reasons.
type metrics struct {
	reg      *prometheus.Registry
	handler  http.Handler
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	signIns  *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	reuse    *prometheus.CounterVec
	audit    *prometheus.CounterVec
	jobs     *prometheus.CounterVec
	purged   *prometheus.CounterVec
	mail     *prometheus.CounterVec // mail.go
}

// latencyBuckets span a JWKS hit from memory (~50 µs) to a slow
// database under load (seconds).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

func newMetrics(db *models.DB) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_sign_ins_total",
			Help: `Passkey sign-in ceremonies by result: "success" or the refusal reason.`,
		}, []string{"result"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_tokens_issued_total",
			Help: "Successful token endpoint responses by grant type.",
		}, []string{"grant"}),
		reuse: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_token_reuse_detected_total",
			Help: "Replays detected: a rotated refresh token (its family is revoked) or a redeemed authorization code.",
		}, []string{"kind"}),
		audit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_audit_events_total",
			Help: "Audit events written, by type and success.",
		}, []string{"type", "success"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_background_job_runs_total",
			Help: `Background job rounds by result: "ran" (this instance held the lease), "skipped" (another instance did) or "error".`,
		}, []string{"job", "result"}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_purged_rows_total",
			Help: "Rows the purge job deleted (expired, used or revoked), by table.",
		}, []string{"table"}),
	}
	m.mail = mailMetric(m.reg)
	for _, t := range models.PurgeTables() {
		m.purged.WithLabelValues(t)
	}
	m.reuse.WithLabelValues("refresh_token")
	m.reuse.WithLabelValues("authorization_code")
	m.signIns.WithLabelValues("success")
	m.reg.MustRegister(m.requests, m.duration, m.signIns, m.tokens, m.reuse, m.audit, m.jobs, m.purged,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "latchkey_database_write_errors_total",
		Help: "Statements that failed because the database could not store data (disk full, read-only file system or database, I/O error).",
	}, func() float64 { return float64(db.WriteErrors()) }))
	for name, pool := range db.Pools() {
		m.reg.MustRegister(collectors.NewDBStatsCollector(pool, name))
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	db.OnAudit(m.observeAudit)
	return m
}

// observeRequests is the outermost middleware: it times the whole request
// and counts it once the response is committed (the request logger inside
// it has already run the error handler).
func (m *metrics) observeRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		var form *bodyPrefix
		if c.Path() == "/oauth/token" && req.Body != nil {
			// op parses the form on its own copy of the request; keep the
			// start of the body to read grant_type afterwards.
			form = &bodyPrefix{ReadCloser: req.Body}
			req.Body = form
		}
		err := next(c)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		if err != nil && !c.Response().Committed {
			// As web.ErrorHandler reads it, wrapped or not.
			status = http.StatusInternalServerError
			var ae *web.Error
			var he *echo.HTTPError
			switch {
			case errors.As(err, &ae):
				status = ae.Status
			case errors.As(err, &he):
				status = he.Code
			}
		}
		m.duration.WithLabelValues(route, req.Method).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(route, req.Method, statusText(status)).Inc()
		if form != nil && status == http.StatusOK {
			m.tokens.WithLabelValues(grantLabel(form.value("grant_type"))).Inc()
		}
		return err
	}
}

// bodyPrefix passes a request body through and keeps its first 1 KiB.
type bodyPrefix struct {
	io.ReadCloser
	buf []byte
}

func (b *bodyPrefix) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := 1024 - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(n, room)]...)
	}
	return n, err
}

// value returns a form field from the kept prefix ("" if cut off).
func (b *bodyPrefix) value(key string) string {
	q, _ := url.ParseQuery(string(b.buf))
	return q.Get(key)
}

func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 302:
		return "302"
	case 400:
		return "400"
	case 401:
		return "401"
	}
	return strconv.Itoa(code)
}

// grantLabel bounds the grant label to the grant types op knows.
func grantLabel(g string) string {
	switch g {
	case "authorization_code", "refresh_token", "client_credentials",
		"urn:ietf:params:oauth:grant-type:device_code",
		"urn:ietf:params:oauth:grant-type:token-exchange",
		"urn:ietf:params:oauth:grant-type:jwt-bearer":
		return g
	}
	return "other"
}

// observeAudit turns audit events into counters (models.DB.OnAudit).
func (m *metrics) observeAudit(ev *models.AuditEvent) {
	m.audit.WithLabelValues(ev.Type, strconv.FormatBool(ev.Success)).Inc()
	switch ev.Type {
	case models.EventSignIn:
		m.signIns.WithLabelValues("success").Inc()
	case models.EventSignInFailed, models.EventCloneWarning:
		reason, _ := ev.Detail["reason"].(string)
		if reason == "" || len(reason) > 40 {
			reason = "other"
		}
		m.signIns.WithLabelValues(reason).Inc()
	case models.EventRefreshReuse:
		m.reuse.WithLabelValues("refresh_token").Inc()
	case models.EventCodeReuse:
		m.reuse.WithLabelValues("authorization_code").Inc()
	}
}

func (s *Server) handleMetricsGet(c echo.Context) error {
	s.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// readiness is what /readyz checks: the database answers (within 2 s),
// stores data (no write failed in the last models.WriteFailureHold and a
// probe write commits), and the signing keys are loaded. All are needed to
// complete a sign-in; readiness comes back by itself once writes work.
func (s *Server) readiness(ctx context.Context) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return "database unreachable", false
	}
	if err := s.db.CheckWritable(ctx); err != nil {
		s.cfg.Logger.Warn("not ready: the database does not store data", "error", err)
		return "database refuses writes", false
	}
	if err := s.op.KeysReady(); err != nil {
		return "signing keys not loaded", false
	}
	return "ready", true
}

// pprofRoutes serve Go's profiles on the internal listener (--pprof), for
// the CPU profiles in docs/performance.md. The command-line handler is
// left out: the command line may hold a secret (--master-key).
func pprofRoutes() []route {
	return []route{
		{internal, http.MethodGet, "/debug/pprof/", echo.WrapHandler(http.HandlerFunc(pprof.Index)), nil},
		{internal, http.MethodGet, "/debug/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)), nil},
		{internal, http.MethodGet, "/debug/pprof/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)), nil},
		{internal, http.MethodGet, "/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)), nil},
		{internal, http.MethodGet, "/debug/pprof/:name", handlePprofProfileGet, nil},
	}
}

// handlePprofProfileGet serves a named profile (heap, goroutine, …).
func handlePprofProfileGet(c echo.Context) error {
	if c.Param("name") == "cmdline" {
		return echo.ErrNotFound
	}
	pprof.Handler(c.Param("name")).ServeHTTP(c.Response(), c.Request())
	return nil
}
