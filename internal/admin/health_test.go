package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// TestHealthFromRecords: one failure is a blip, two in a row mark the route down, a success
// brings it back; requests that never went upstream say nothing.
func TestHealthFromRecords(t *testing.T) {
	now := t0
	h := NewHealth(prometheus.NewRegistry(), func() time.Time { return now }, "default")
	fail := &proxy.Record{Status: 502, Fault: "refused", Error: "bad gateway: the upstream refused the connection"}
	h.Observe("default", fail)
	if s := h.Snapshot()[0]; !s.Up || s.ConsecutiveFailures != 1 || s.FailureKind != "refused" {
		t.Fatalf("after one failure: %+v", s)
	}
	h.Observe("default", &proxy.Record{Status: 413}) // answered locally
	now = now.Add(time.Second)
	h.Observe("default", &proxy.Record{Status: 503, UpstreamDuration: time.Millisecond})
	s := h.Snapshot()[0]
	if s.Up || s.ConsecutiveFailures != 2 || s.FailureKind != "5xx" || !s.DownSince.Equal(now) {
		t.Fatalf("after two failures: %+v", s)
	}
	h.Observe("default", &proxy.Record{Status: 404, UpstreamDuration: time.Millisecond})
	if s := h.Snapshot()[0]; !s.Up || s.ConsecutiveFailures != 0 || !s.LastSuccess.Equal(now) {
		t.Fatalf("after a success: %+v", s)
	}
}

// TestHealthProbe: with no request flowing, one failed probe marks the route down.
func TestHealthProbe(t *testing.T) {
	h := NewHealth(nil, nil, "default")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var probes atomic.Int32
	go func() {
		defer close(done)
		h.Run(ctx, "default", 5*time.Millisecond, func(context.Context) error {
			probes.Add(1)
			return syscall.ECONNREFUSED
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for h.Snapshot()[0].Up && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	s := h.Snapshot()[0]
	if s.Up || s.FailureKind != "refused" || !strings.Contains(s.FailureMessage, "check upstream.url") || probes.Load() == 0 {
		t.Fatalf("after a failed probe: %+v", s)
	}
}

// TestStatusJSONAndQuit: /status.json holds the token state without the token and the health;
// POST /quitquitquit quits from loopback and answers 401 without a bearer elsewhere.
func TestStatusJSONAndQuit(t *testing.T) {
	var quits atomic.Int32
	opts := baseOptions()
	opts.Health = NewHealth(nil, opts.Now, "default")
	opts.Quit = func() { quits.Add(1) }
	srv := serve(t, opts)
	r := do(t, srv, http.MethodGet, "/status.json", "", nil)
	var st struct {
		Token    struct{ Fingerprint string }
		Upstream []UpstreamHealth
	}
	if err := json.Unmarshal([]byte(r.body), &st); err != nil || r.status != 200 || st.Token.Fingerprint != "a1b2c3d4e5f6" ||
		len(st.Upstream) != 1 || !st.Upstream[0].Up {
		t.Fatalf("status.json: %d %v %s", r.status, err, r.body)
	}
	if r := do(t, srv, http.MethodGet, "/quitquitquit", "", nil); r.status != http.StatusMethodNotAllowed || quits.Load() != 0 {
		t.Fatalf("GET /quitquitquit: %d", r.status)
	}
	if r := do(t, srv, http.MethodPost, "/quitquitquit", "", nil); r.status != http.StatusAccepted || quits.Load() != 1 {
		t.Fatalf("POST /quitquitquit: %d, %d quits", r.status, quits.Load())
	}
	opts.Listen = "0.0.0.0:9090"
	remote := serve(t, opts)
	for _, path := range []string{"/quitquitquit", "/status.json"} {
		if r := do(t, remote, http.MethodPost, path, "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("POST %s on a remote listener without a bearer: %d", path, r.status)
		}
	}
	if quits.Load() != 1 {
		t.Error("a remote POST /quitquitquit without a bearer quit")
	}
}
