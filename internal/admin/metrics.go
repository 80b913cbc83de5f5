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

// maxSeries bounds the template labels; beyond it new templates are counted as "other", so that a bug upstream of Observe cannot grow the series without bound.
const maxSeries = 4096

// durationBuckets covers quick API calls up to long log downloads, in seconds. Read-only.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// Metrics holds dbaas-proxy's Prometheus collectors. Its methods are safe for concurrent use and
// do nothing on a nil *Metrics. No label ever carries a secret or a raw path.
type Metrics struct {
	requests   *prometheus.CounterVec   // method, code, template
	duration   *prometheus.HistogramVec // template
	upstream   prometheus.Histogram
	bytesIn    prometheus.Counter
	bytesOut   prometheus.Counter
	inFlight   prometheus.Gauge
	exchanges  *prometheus.CounterVec // result
	replays    prometheus.Counter
	suppressed *prometheus.CounterVec // cause
	rejected   *prometheus.CounterVec // reason

	mu        sync.Mutex
	templates map[string]bool // the template labels in use, at most maxSeries
}

// NewMetrics creates the collectors and registers them with reg (nil: not registered, for
// tests). source, when not "", is the token source (auth.source), a constant label "source"
// of dbaas_proxy_token_exchanges_total. token feeds dbaas_proxy_token_expiry_seconds; now is
// the clock (nil: time.Now). It panics if reg already holds collectors of the same names, as prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer, version, source string, token func() tokensource.Status, now func() time.Time) *Metrics {
	var sourceLabel prometheus.Labels
	if source != "" {
		sourceLabel = prometheus.Labels{"source": source}
	}
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "requests_total",
			Help: "Requests served, by method, status code and API path template."},
			[]string{"method", "code", "template"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace,
			Name: "request_duration_seconds", Help: "Time from a request's arrival to the end of its response.",
			Buckets: durationBuckets}, []string{"template"}),
		upstream: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace,
			Name: "upstream_duration_seconds", Help: "Time to the upstream's response headers.",
			Buckets: durationBuckets}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "request_bytes_total",
			Help: "Request body bytes read from clients."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "response_bytes_total",
			Help: "Response body bytes written to clients."}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "in_flight_requests",
			Help: "Requests being served."}),
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "token_exchanges_total", Help: "Exchanges of the API key for an access token, by result.",
			ConstLabels: sourceLabel},
			[]string{"result"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "token_exchanges_suppressed_total",
			Help: "Token exchanges that clients asked for (an upstream refresh_on status, POST /token/refresh) and the refresh budget (auth.min_refresh_interval) refused, by cause."},
			[]string{"cause"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "replays_total",
			Help: "Requests sent again with a new token after the upstream refused the old one."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "inbound_rejected_total", Help: "Requests refused by inbound access control, by reason."},
			[]string{"reason"}),
		templates: make(map[string]bool),
	}
	for _, r := range []string{"ok", "rejected", "error"} {
		m.exchanges.WithLabelValues(r) // the series exist from the start, at 0
	}
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "token_expiry_seconds",
		Help: "Seconds until the current access token expires; 0 when there is none."},
		func() float64 { return expirySeconds(token, now) })
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels tell the version and the Go version."}, []string{"version", "goversion"})
	if version == "" {
		version = "unknown"
	}
	build.WithLabelValues(version, runtime.Version()).Set(1)
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.upstream, m.bytesIn, m.bytesOut, m.inFlight,
			m.exchanges, m.suppressed, m.replays, m.rejected, expiry, build)
	}
	return m
}

// expirySeconds is the GaugeFunc behind dbaas_proxy_token_expiry_seconds.
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
	m.requests.WithLabelValues(normMethod(rec.Method), strconv.Itoa(rec.Status), template).Inc()
	m.duration.WithLabelValues(template).Observe(rec.Duration.Seconds())
	if rec.UpstreamDuration > 0 {
		m.upstream.Observe(rec.UpstreamDuration.Seconds())
	}
	if rec.BytesIn > 0 {
		m.bytesIn.Add(float64(rec.BytesIn))
	}
	if rec.BytesOut > 0 {
		m.bytesOut.Add(float64(rec.BytesOut))
	}
}

// template is the template label for t: "other" for a raw path, or for a new template once
// maxSeries are in use.
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

// normMethod maps the standard methods to themselves and anything else to "OTHER".
func normMethod(method string) string {
	for _, m := range [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace} {
		if method == m {
			return m
		}
	}
	return "OTHER"
}

// isTemplate reports whether t looks like a path template rather than a raw path: it must start
// with a slash and must not hold a segment that looks like an id (16 or more hex digits and dashes, as account ids and
// UUIDs are), nor a query.
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

// TokenExchange counts one token exchange by its error: "ok" (nil), "rejected" (the token
// endpoint refused the credential, cause.Rejected) or "error".
func (m *Metrics) TokenExchange(err error) {
	result := "error"
	switch {
	case m == nil:
		return
	case err == nil:
		result = "ok"
	case cause.Of(err) == cause.Rejected:
		result = "rejected"
	}
	m.exchanges.WithLabelValues(result).Inc()
}

// TokenSuppressed counts an exchange that the refresh budget refused; cause is "invalidate"
// (an upstream refresh_on status) or "refresh" (POST /token/refresh), any other value counts as
// "refresh".
func (m *Metrics) TokenSuppressed(cause string) {
	if m == nil {
		return
	}
	if cause != "invalidate" {
		cause = "refresh"
	}
	m.suppressed.WithLabelValues(cause).Inc()
}

// Replay counts a request sent again after the upstream refused its token.
func (m *Metrics) Replay() {
	if m != nil {
		m.replays.Inc()
	}
}

// Reject counts a request refused by inbound access control. reason must be one of a small fixed
// set of labels (internal/inbound's OnReject reasons), never a value taken from the request.
func (m *Metrics) Reject(reason string) {
	if m != nil {
		m.rejected.WithLabelValues(reason).Inc()
	}
}
