package idp

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// documentPolicy is the CSP of the JSON documents: nothing may load, and
// nothing may frame them.
const documentPolicy = "default-src 'none'; frame-ancestors 'none'"

// documentHandler serves the precomputed public documents, discovery and
// JWKS, ahead of echo's router. Relying parties and resource servers fetch
// them often and every answer is the same bytes, so their cost is the
// socket plus whatever runs around them: here that is one map look-up, a
// precomputed header set, the request's metrics and its log line. Every
// other request, and these paths with any other method (CORS preflights
// included), goes to echo (next) unchanged.
type documentHandler struct {
	s    *Server
	next http.Handler
	docs map[string]*documentRoute
}

// documentRoute is one document path: its fixed headers and its metric
// series for GET and HEAD, resolved once (a label look-up per request
// hashes the label values).
type documentRoute struct {
	path     string
	header   http.Header
	duration map[string]prometheus.Observer
	requests map[string]prometheus.Counter
}

func (s *Server) documentHandler(next http.Handler) http.Handler {
	h := &documentHandler{s: s, next: next, docs: map[string]*documentRoute{}}
	for _, path := range s.op.DocumentPaths() {
		_, cacheControl, _ := s.op.Document(context.Background(), path)
		d := &documentRoute{path: path, header: web.FixedHeaders(s.cfg.SecureCookies()),
			duration: map[string]prometheus.Observer{}, requests: map[string]prometheus.Counter{}}
		d.header["Content-Security-Policy"] = web.One(documentPolicy)
		d.header["Content-Type"] = web.One(echo.MIMEApplicationJSON)
		d.header["Cache-Control"] = web.One(cacheControl)
		// Browser-based relying parties fetch both cross-origin.
		d.header["Access-Control-Allow-Origin"] = web.One("*")
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			d.duration[m] = s.metrics.duration.WithLabelValues(path, m)
			d.requests[m] = s.metrics.requests.WithLabelValues(path, m, "200")
		}
		h.docs[path] = d
	}
	return h
}

func (h *documentHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Only an unescaped path names a document: echo routes on the raw
	// path, so /%6Beys is not /keys there either (404).
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.RawPath == "" {
		if d := h.docs[r.URL.Path]; d != nil {
			h.serve(w, r, d)
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

func (h *documentHandler) serve(w http.ResponseWriter, r *http.Request, d *documentRoute) {
	start := time.Now()
	body, _, _ := h.s.op.Document(r.Context(), d.path)
	// As echo's RequestID middleware: the caller's ID, or a new one.
	rid := r.Header.Get(echo.HeaderXRequestID)
	if rid == "" {
		rid = models.NewUUID()
	}
	hdr := w.Header()
	for k, v := range d.header {
		hdr[k] = v
	}
	hdr[echo.HeaderXRequestID] = []string{rid}
	w.WriteHeader(http.StatusOK)
	n, _ := w.Write(body) //nolint:gosec // G705: body is op's own discovery or JWKS document (application/json, nosniff); nothing from the request is in it
	latency := time.Since(start)
	d.duration[r.Method].Observe(latency.Seconds())
	d.requests[r.Method].Inc()
	if ctx := r.Context(); h.s.cfg.Logger.Enabled(ctx, slog.LevelInfo) {
		web.LogRequest(ctx, h.s.cfg.Logger, middleware.RequestLoggerValues{RequestID: rid, Method: r.Method, RoutePath: d.path,
			Status: http.StatusOK, Latency: latency, RemoteIP: h.s.public.IPExtractor(r), ResponseSize: int64(n)})
	}
}
