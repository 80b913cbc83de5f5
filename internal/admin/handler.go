package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// RouteState is one route, or one identity (Listen and Upstream ""), for the status page.
type RouteState struct {
	Name, Listen, Upstream, API string
	Identity, Source            string // the identity's name and auth.source
	Token                       tokensource.Status
}

// Options configures NewHandler. Token and Ready are required; every other field may be left zero.
type Options struct {
	// Logger receives a line for each refused request and each forced refresh.
	Logger zerolog.Logger
	// Version is the program's version, shown on the status page.
	Version string
	// Upstream is the upstream URL, shown on the status page.
	Upstream string
	// TokenSource is where the token comes from (auth.source: dbaas, iam or trusted_profile),
	// shown on the status page. "" shows nothing.
	TokenSource string
	// Token returns the token cache's current state. Required.
	Token func() tokensource.Status
	// Routes lists every route and identity for the status page; nil shows none.
	Routes func() []RouteState
	// Ready reports the readiness of the route named route (of every route when "", as
	// /readyz asks; /readyz?route=NAME asks for one) and, when not ready, a one-line reason for
	// a person. Required. It must not call the upstream: /readyz answers from local state only.
	Ready func(route string) (bool, string)
	// TryRefresh asks the token cache for a refresh; POST /token/refresh calls it. A retryAfter
	// above 0 means the refresh was refused by the refresh budget: the answer is 429 with
	// Retry-After. Otherwise a non-nil err (secret-free; it is logged, never sent) is a 503, and
	// nil a 202. nil means /token/refresh does not exist (404).
	TryRefresh func() (retryAfter time.Duration, err error)
	// Gatherer serves /metrics. nil means /metrics does not exist (404).
	Gatherer prometheus.Gatherer
	// Recent holds the last requests, and counts them by status class and minute, for the
	// status page. nil means the page lists and counts none.
	Recent *Recent
	// Health is the upstream's health per route, shown first on the status page, in
	// /status.json and as a note of /readyz. nil means none is tracked.
	Health *Health
	// Quit starts the graceful shutdown (as SIGTERM does); POST /quitquitquit calls it. nil means
	// /quitquitquit does not exist (404).
	Quit func()
	// ProxyListen is the proxy's listen address and Credential where its credential comes from
	// (never the credential), both shown on the status page; "" shows nothing.
	ProxyListen, Credential string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AllowedHosts is Config.AllowedHosts; loopback names and addresses are always accepted.
	AllowedHosts []string
	// Listen is Config.Listen; "" counts as loopback.
	Listen string
	// Clients are Config.Clients; the caller may Set them again on SIGHUP. nil: none.
	Clients *inbound.Bearer
}

// pageRows is how many of the last requests the status page lists.
const pageRows = 50

// handler serves the admin routes. It is immutable after NewHandler.
type handler struct {
	opts    Options
	log     zerolog.Logger
	refused zerolog.Logger // log, sampled: a flood of refusals writes a few lines a minute
	hosts   netrule.HostRule
	remote  bool // Listen is not loopback: the page, /status.json and POSTs need a client
	page    *page
	metrics http.Handler
	started time.Time
}

// NewHandler returns the admin listener's handler. It panics if opts.Token or opts.Ready is nil,
// a programming error. The handler is safe for concurrent use.
//
// Routes: GET /healthz, GET /readyz, GET /metrics, GET / (status page), GET /status.json,
// POST /token/refresh, POST /quitquitquit.
// Every other path answers 404 and a wrong method 405, both as JSON errors.
func NewHandler(opts Options) http.Handler {
	if opts.Token == nil || opts.Ready == nil {
		panic("admin: NewHandler needs Options.Token and Options.Ready")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &handler{
		opts:    opts,
		log:     opts.Logger.With().Str("component", "admin").Logger(),
		refused: opts.Logger.With().Str("component", "admin").Logger().Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute}),
		hosts:   netrule.NewHostRule(opts.AllowedHosts...).WithLoopback(),
		remote:  opts.Listen != "" && !netrule.IsLoopbackListen(opts.Listen),
		page:    newPage(),
		started: opts.Now(),
	}
	if opts.Gatherer != nil {
		h.metrics = promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      proxy.ErrorLog(h.log, zerolog.ErrorLevel),
			ErrorHandling: promhttp.ContinueOnError,
		})
	}
	return h
}

// ServeHTTP checks the Host, sets the security headers every answer carries and routes.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", baseCSP)
	if !h.hosts.Allow(r.Host) {
		h.refused.Warn().Str("host", netrule.LogValue(r.Host)).Str("remote", r.RemoteAddr).Msg("admin: refused a request for another host")
		jsonerr.Write(w, http.StatusForbidden, "forbidden: the Host header does not name the admin listener; "+
			"add it to admin.allowed_hosts if you trust it")
		return
	}
	switch r.URL.Path {
	case "/healthz": // liveness says nothing about the upstream
		h.serveGet(w, r, func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	case "/readyz":
		h.serveGet(w, r, h.readyz)
	case "/metrics":
		if h.metrics == nil {
			notFound(w)
			return
		}
		h.serveGet(w, r, h.metrics.ServeHTTP)
	case "/":
		if h.authorized(w, r) {
			h.serveGet(w, r, h.status)
		}
	case "/status.json":
		if h.authorized(w, r) {
			h.serveGet(w, r, h.statusJSON)
		}
	case "/token/refresh", "/quitquitquit":
		if r.URL.Path == "/quitquitquit" && h.opts.Quit == nil || r.URL.Path == "/token/refresh" && h.opts.TryRefresh == nil {
			notFound(w)
			return
		}
		if h.authorized(w, r) && h.post(w, r) {
			h.refresh(w, r)
		}
	default:
		notFound(w)
	}
}

// serveGet runs fn for GET and HEAD and answers 405 otherwise.
func (h *handler) serveGet(w http.ResponseWriter, r *http.Request, fn http.HandlerFunc) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	fn(w, r)
}

// readyz answers 200 when Options.Ready says so (with its warning, if any, and a note while the
// upstream is unreachable), else 503 with its one-line reason.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ready, reason := h.opts.Ready(r.URL.Query().Get("route"))
	reason = oneLine(reason)
	if ready {
		if reason != "" {
			reason = "; warning: " + reason
		}
		writeText(w, http.StatusOK, "ready"+h.upstreamNote()+reason+"\n")
		return
	}
	if reason == "" {
		reason = "not ready"
	}
	writeText(w, http.StatusServiceUnavailable, reason+"\n")
}

// upstreamNote is " (upstream unreachable since …)" while a route's upstream is down, else "".
func (h *handler) upstreamNote() string {
	for _, s := range h.opts.Health.Snapshot() {
		if !s.Up {
			return " (upstream unreachable since " + formatTime(s.DownSince) + ")"
		}
	}
	return ""
}

// post lets a POST from anything but a web page on, and answers anything else itself.
func (h *handler) post(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return false
	}
	if reason, blocked := inbound.CrossSite(r, nil); blocked {
		h.refused.Warn().Str("remote", r.RemoteAddr).Str("reason", reason).Msg("admin: refused a POST from a web page")
		jsonerr.Write(w, http.StatusForbidden, "forbidden: "+reason+"; dbaas-proxy refuses admin requests from web pages")
		return false
	}
	return true
}

// refresh serves POST /token/refresh, which asks the token cache for a new token (202), and
// POST /quitquitquit, which starts the graceful shutdown (202).
func (h *handler) refresh(w http.ResponseWriter, r *http.Request) {
	h.log.Info().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("admin: requested")
	if r.URL.Path == "/quitquitquit" {
		jsonerr.Write(w, http.StatusAccepted, "shutting down: finishing requests in flight")
		h.opts.Quit()
		return
	}
	retry, err := h.opts.TryRefresh()
	switch {
	case retry > 0:
		secs := int((retry + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		jsonerr.Write(w, http.StatusTooManyRequests, fmt.Sprintf("too many requests: the token refresh "+
			"budget is spent, so no refresh was started; retry after %d s", secs))
	case err != nil:
		h.log.Warn().Err(err).Msg("admin: token refresh failed")
		jsonerr.Write(w, http.StatusServiceUnavailable, "service unavailable: the token refresh failed; "+
			"see the log for why, and /readyz for the token's state")
	default:
		jsonerr.Write(w, http.StatusAccepted, "a token exchange is under way (started now, or already running); /readyz and the status page show its result")
	}
}

// status renders the status page. The template is embedded and its data plain values, so a
// failure is a programming error, which every test would catch.
func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", h.page.csp)
	if err := h.page.tmpl.Execute(w, h.pageData(r)); err != nil {
		h.log.Error().Err(err).Msg("admin: status page")
	}
}

// writeText sends a short text/plain answer.
func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func notFound(w http.ResponseWriter) {
	jsonerr.Write(w, http.StatusNotFound, "not found: the admin listener serves /, /status.json, /healthz, /readyz, /metrics, "+
		"POST /token/refresh and POST /quitquitquit")
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	jsonerr.Write(w, http.StatusMethodNotAllowed, "method not allowed: use "+allow)
}

// oneLine joins the lines of s with "; " so that a reason fits one line.
func oneLine(s string) string {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	return strings.Join(fields, "; ")
}
