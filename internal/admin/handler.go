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
	// TokenSource is auth.source (dbaas, iam or trusted_profile) for the status page; "": none.
	TokenSource string
	// Token returns the token cache's current state. Required.
	Token func() tokensource.Status
	// Routes lists every route and identity for the status page; nil shows none.
	Routes func() []RouteState
	// Ready reports whether route ("" for all) is ready and, if not, a reason. Required. It must
	// not call the upstream: /readyz answers from local state only.
	Ready func(route string) (bool, string)
	// TryRefresh serves POST /token/refresh (nil: 404): retryAfter > 0 (the refresh budget) is a
	// 429 with Retry-After, else err (secret-free: logged, never sent) a 503, nil a 202.
	TryRefresh func() (retryAfter time.Duration, err error)
	// Gatherer serves /metrics. nil means /metrics does not exist (404).
	Gatherer prometheus.Gatherer
	// Recent holds the last requests and their counts for the status page; nil: none.
	Recent *Recent
	// Health is the upstream's health per route (status page, /status.json, /readyz); nil: none.
	Health *Health
	// Quit starts the graceful shutdown, as SIGTERM does (POST /quitquitquit; nil: 404).
	Quit func()
	// ProxyListen and Credential (where the credential comes from, never it) go on the page.
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

// NewHandler returns the admin listener's handler, safe for concurrent use. It panics if
// opts.Token or opts.Ready is nil. Unknown paths answer 404, wrong methods 405, as JSON errors.
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

func (h *handler) serveGet(w http.ResponseWriter, r *http.Request, fn http.HandlerFunc) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	fn(w, r)
}

// readyz answers 200 (with Ready's warning and upstreamNote) or 503 with Ready's reason.
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

// refresh serves POST /token/refresh and POST /quitquitquit.
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

// status renders the status page; a template failure is a programming error.
func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", h.page.csp)
	if err := h.page.tmpl.Execute(w, h.pageData(r)); err != nil {
		h.log.Error().Err(err).Msg("admin: status page")
	}
}

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
