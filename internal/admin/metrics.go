package admin

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dbaas-proxy/dbaas-proxy/internal/cause"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

const namespace = "dbaas_proxy"

// maxSeries bounds the template labels (more count as "other"): the series cannot grow unbounded.
const maxSeries = 4096

// durationBuckets covers quick API calls up to long log downloads, in seconds. Read-only.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// Metrics holds dbaas-proxy's Prometheus collectors. Its methods are safe for concurrent use and
// do nothing on a nil *Metrics. No label ever carries a secret or a raw path.
type Metrics struct {
	reg        prometheus.Registerer
	now        func() time.Time
	requests   *prometheus.CounterVec   // route, method, code, template
	duration   *prometheus.HistogramVec // route, template
	upstream   *prometheus.HistogramVec // route
	bytesIn    *prometheus.CounterVec   // route
	bytesOut   *prometheus.CounterVec   // route
	inFlight   prometheus.Gauge
	exchanges  *prometheus.CounterVec // identity, result
	replays    *prometheus.CounterVec // route
	suppressed *prometheus.CounterVec // identity, cause
	rejected   *prometheus.CounterVec // route, reason

	mu        sync.Mutex
	templates map[string]bool // the template labels in use, at most maxSeries
}

// NewMetrics creates the collectors and registers them with reg (nil: none, for tests); now is
// the clock (nil: time.Now). It panics if reg already holds them, as MustRegister does.
func NewMetrics(reg prometheus.Registerer, version string, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}
	}
	hist := func(name, help string) prometheus.HistogramOpts {
		return prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: durationBuckets}
	}
	m := &Metrics{
		reg: reg, now: now,
		requests: prometheus.NewCounterVec(opts("requests_total", "Requests served, by route, method, status code and API path template."),
			[]string{"route", "method", "code", "template"}),
		duration: prometheus.NewHistogramVec(hist("request_duration_seconds", "Time from a request's arrival to the end of its response."),
			[]string{"route", "template"}),
		upstream: prometheus.NewHistogramVec(hist("upstream_duration_seconds", "Time to the upstream's response headers."), []string{"route"}),
		bytesIn:  prometheus.NewCounterVec(opts("request_bytes_total", "Request body bytes read from clients."), []string{"route"}),
		bytesOut: prometheus.NewCounterVec(opts("response_bytes_total", "Response body bytes written to clients."), []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "in_flight_requests",
			Help: "Requests being served."}),
		exchanges: prometheus.NewCounterVec(opts("token_exchanges_total", "Token exchanges, by identity, token source (auth.source) and result."),
			[]string{"identity", "source", "result"}),
		suppressed: prometheus.NewCounterVec(opts("token_exchanges_suppressed_total",
			"Token exchanges that clients asked for (an upstream refresh_on status, POST /token/refresh) and the refresh budget (auth.min_refresh_interval) refused, by identity and cause."),
			[]string{"identity", "cause"}),
		replays: prometheus.NewCounterVec(opts("replays_total", "Requests sent again with a new token after the upstream refused the old one."),
			[]string{"route"}),
		rejected: prometheus.NewCounterVec(opts("inbound_rejected_total", "Requests refused by inbound access control, by route and reason."),
			[]string{"route", "reason"}),
		templates: make(map[string]bool),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels tell the version and the Go version."}, []string{"version", "goversion"})
	if version == "" {
		version = "unknown"
	}
	build.WithLabelValues(version, runtime.Version()).Set(1)
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.upstream, m.bytesIn, m.bytesOut, m.inFlight,
			m.exchanges, m.suppressed, m.replays, m.rejected, build)
	}
	return m
}

// AddIdentity starts the exchange counts and token_expiry_seconds of the identity name.
func (m *Metrics) AddIdentity(name, source string, token func() tokensource.Status) {
	for _, r := range []string{"ok", "rejected", "error"} {
		m.exchanges.WithLabelValues(name, source, r)
	}
	if m.reg != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "token_expiry_seconds",
			Help: "Seconds until the identity's access token expires; 0 when there is none.", ConstLabels: prometheus.Labels{"identity": name}},
			func() float64 { return expirySeconds(token, m.now) }))
	}
}

func expirySeconds(token func() tokensource.Status, now func() time.Time) float64 {
	if token == nil {
		return 0
	}
	s := token()
	if !s.HasToken || s.Expiry.IsZero() {
		return 0
	}
	left := s.Expiry.Sub(now()).Seconds()
	if left < 0 {
		return 0
	}
	return left
}

// Observe counts one served request. It does not count replays: see Replay.
func (m *Metrics) Observe(rec *proxy.Record) {
	if m == nil || rec == nil {
		return
	}
	template := m.template(rec.Template)
	m.requests.WithLabelValues(rec.Route, normMethod(rec.Method), strconv.Itoa(rec.Status), template).Inc()
	m.duration.WithLabelValues(rec.Route, template).Observe(rec.Duration.Seconds())
	if rec.UpstreamDuration > 0 {
		m.upstream.WithLabelValues(rec.Route).Observe(rec.UpstreamDuration.Seconds())
	}
	if rec.BytesIn > 0 {
		m.bytesIn.WithLabelValues(rec.Route).Add(float64(rec.BytesIn))
	}
	if rec.BytesOut > 0 {
		m.bytesOut.WithLabelValues(rec.Route).Add(float64(rec.BytesOut))
	}
}

// template is t as a label: "other" for a raw path or a new template beyond maxSeries.
func (m *Metrics) template(t string) string {
	if !isTemplate(t) {
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.templates[t] && len(m.templates) >= maxSeries {
		return "other"
	}
	m.templates[t] = true
	return t
}

func normMethod(method string) string {
	for _, m := range [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace} {
		if method == m {
			return m
		}
	}
	return "OTHER"
}

// isTemplate reports whether t is a path template, not a raw path: it starts with a slash and
// holds no query and no id-like segment (16+ hex digits and dashes, as account ids and UUIDs).
func isTemplate(t string) bool {
	if t == "" || t[0] != '/' || strings.ContainsAny(t, "?#") {
		return false
	}
	for seg := range strings.SplitSeq(t, "/") {
		if len(seg) >= 16 && strings.Trim(seg, "0123456789abcdefABCDEF-") == "" {
			return false
		}
	}
	return true
}

// RequestStarted counts a request in flight.
func (m *Metrics) RequestStarted() {
	if m != nil {
		m.inFlight.Inc()
	}
}

// RequestDone ends what RequestStarted began.
func (m *Metrics) RequestDone() {
	if m != nil {
		m.inFlight.Dec()
	}
}

// TokenExchange counts an exchange by its error: "ok", "rejected" (cause.Rejected) or "error".
func (m *Metrics) TokenExchange(identity, source string, err error) {
	result := "error"
	switch {
	case m == nil:
		return
	case err == nil:
		result = "ok"
	case cause.Of(err) == cause.Rejected:
		result = "rejected"
	}
	m.exchanges.WithLabelValues(identity, source, result).Inc()
}

// TokenSuppressed counts an exchange of identity that the refresh budget refused; cause is
// "invalidate" (an upstream refresh_on status) or else "refresh" (POST /token/refresh).
func (m *Metrics) TokenSuppressed(identity, cause string) {
	if m == nil {
		return
	}
	if cause != "invalidate" {
		cause = "refresh"
	}
	m.suppressed.WithLabelValues(identity, cause).Inc()
}

// Replay counts a request of the route sent again after the upstream refused its token.
func (m *Metrics) Replay(route string) {
	if m != nil {
		m.replays.WithLabelValues(route).Inc()
	}
}

// Reject counts a request refused by inbound access control. reason must be one of a small fixed
// set of labels (internal/inbound's OnReject reasons), never a value taken from the request.
func (m *Metrics) Reject(route, reason string) {
	if m != nil {
		m.rejected.WithLabelValues(route, reason).Inc()
	}
}
