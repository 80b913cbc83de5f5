package admin

import (
	"cmp"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dbaas-proxy/dbaas-proxy/internal/cause"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// downAfter is how many failures in a row mark a route's upstream down; one failed probe does.
const downAfter = 2

// ProbeInterval is the longest a route's upstream goes unchecked (see Health.Run).
const ProbeInterval = time.Minute

// UpstreamHealth is what is known of one route's upstream; untried counts as up.
type UpstreamHealth struct {
	Route               string    `json:"route"`
	Up                  bool      `json:"up"`
	DownSince           time.Time `json:"down_since,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastFailure         time.Time `json:"last_failure,omitzero"`
	FailureKind         string    `json:"failure_kind,omitempty"` // cause.Refused, cause.TLS, ...
	FailureMessage      string    `json:"failure_message,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	lastSeen            time.Time // the last request or probe
}

// Health tracks each route's upstream from records and probes, safe for concurrent use; nil: none.
type Health struct {
	now    func() time.Time
	up     *prometheus.GaugeVec
	mu     sync.Mutex
	routes []*UpstreamHealth // in the order first seen
}

// NewHealth returns a Health for routes, registering upstream_up with reg (nil: not registered).
func NewHealth(reg prometheus.Registerer, now func() time.Time, routes ...string) *Health {
	if now == nil {
		now = time.Now
	}
	h := &Health{now: now,
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "upstream_up",
			Help: "1 while the route's upstream answers, 0 after failed requests or a failed probe."}, []string{"route"})}
	for _, r := range routes {
		h.route(r)
		h.up.WithLabelValues(r).Set(1)
	}
	if reg != nil {
		reg.MustRegister(h.up)
	}
	return h
}

// Observe takes one served request of route: an upstream answer below 500 is a success, a 5xx
// or a failure to reach it (rec.Fault) a failure; a request that never went upstream, nothing.
func (h *Health) Observe(route string, rec *proxy.Record) {
	switch {
	case h == nil || rec == nil:
	case rec.Fault != "":
		h.record(route, rec.Fault, rec.Error, false)
	case rec.UpstreamDuration > 0 && rec.Status >= 500:
		h.record(route, cause.Status, "the upstream answered "+strconv.Itoa(rec.Status), false)
	case rec.UpstreamDuration > 0:
		h.record(route, "", "", false)
	}
}

// record stores a success (kind "") or a failure of route.
func (h *Health) record(route, kind, msg string, probe bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, now := h.route(route), h.now()
	s.lastSeen = now
	if kind == "" {
		s.LastSuccess, s.ConsecutiveFailures, s.Up, s.DownSince = now, 0, true, time.Time{}
	} else {
		s.LastFailure, s.FailureKind, s.FailureMessage = now, kind, msg
		s.ConsecutiveFailures++
		if s.Up && (probe || s.ConsecutiveFailures >= downAfter) {
			s.Up, s.DownSince = false, now
		}
	}
	up := 0.0
	if s.Up {
		up = 1
	}
	h.up.WithLabelValues(route).Set(up)
}

// route returns the state of route, adding it when new. The caller holds mu (or owns h).
func (h *Health) route(route string) *UpstreamHealth {
	for _, s := range h.routes {
		if s.Route == route {
			return s
		}
	}
	s := &UpstreamHealth{Route: route, Up: true}
	h.routes = append(h.routes, s)
	return s
}

// Snapshot returns every route's state, in the order the routes were first seen.
func (h *Health) Snapshot() []UpstreamHealth {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]UpstreamHealth, len(h.routes))
	for i, s := range h.routes {
		out[i] = *s
	}
	return out
}

// Run probes route with probe (a TLS handshake) when idle for every, until ctx ends.
func (h *Health) Run(ctx context.Context, route string, every time.Duration, probe func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		idle := h.now().Sub(h.route(route).lastSeen) >= every
		h.mu.Unlock()
		if !idle {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		kind, msg := cause.Kind(err), "" // the message for a person: the kind's fix, no Go error text
		if err != nil {
			kind = cmp.Or(kind, cause.Network)
			msg = "the probe (a TLS handshake) failed (" + kind + "): " + cause.Fix[kind]
		}
		h.record(route, kind, msg, true)
	}
}
