package admin

import (
	"errors"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"

	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

const clustersTemplate = "/api/v3/{user_id}/clusters/{cluster_id}"

// metricsServer serves /metrics from a fresh registry fed by the returned Metrics.
func metricsServer(t *testing.T, token func() tokensource.Status) (*Metrics, func() map[string]float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "v1.2.3", func() time.Time { return t0 })
	m.AddIdentity("ops", "iam", token)
	opts := baseOptions()
	opts.Gatherer = reg
	srv := serve(t, opts)
	scrape := func() map[string]float64 {
		t.Helper()
		got := do(t, srv, http.MethodGet, "/metrics", "", nil)
		if got.status != http.StatusOK {
			t.Fatalf("/metrics: %d %s", got.status, got.body)
		}
		return parseExposition(t, got.body)
	}
	return m, scrape
}

func TestMetricsChange(t *testing.T) {
	token := func() tokensource.Status {
		return tokensource.Status{HasToken: true, Expiry: t0.Add(1800 * time.Second)}
	}
	m, scrape := metricsServer(t, token)
	rec := &proxy.Record{Route: "dallas", Method: http.MethodGet, Template: clustersTemplate, Status: 200, BytesIn: 10, BytesOut: 300,
		Duration: 20 * time.Millisecond, UpstreamDuration: 15 * time.Millisecond}
	requests := `dbaas_proxy_requests_total{code="200",method="GET",route="dallas",template="` + clustersTemplate + `"}`
	before := scrape()
	if _, ok := before[requests]; ok {
		t.Fatalf("%s exists before any request", requests)
	}
	exercise(m, rec)
	tests := []struct {
		series      string
		before, now float64
	}{
		{requests, 0, 3},
		{`dbaas_proxy_request_duration_seconds_count{route="dallas",template="` + clustersTemplate + `"}`, 0, 3},
		{`dbaas_proxy_request_duration_seconds_bucket{route="dallas",template="` + clustersTemplate + `",le="0.025"}`, 0, 3},
		{`dbaas_proxy_request_duration_seconds_bucket{route="dallas",template="` + clustersTemplate + `",le="0.01"}`, 0, 0},
		{`dbaas_proxy_upstream_duration_seconds_count{route="dallas"}`, 0, 3},
		{`dbaas_proxy_request_bytes_total{route="dallas"}`, 0, 30},
		{`dbaas_proxy_response_bytes_total{route="dallas"}`, 0, 900},
		{"dbaas_proxy_in_flight_requests", 0, 1},
		{`dbaas_proxy_token_exchanges_total{identity="ops",result="ok",source="iam"}`, 0, 1},
		{`dbaas_proxy_token_exchanges_total{identity="ops",result="rejected",source="iam"}`, 0, 0},
		{`dbaas_proxy_token_exchanges_total{identity="ops",result="error",source="iam"}`, 0, 1},
		{`dbaas_proxy_replays_total{route="dallas"}`, 0, 1},
		{`dbaas_proxy_inbound_rejected_total{reason="host",route="dallas"}`, 0, 1},
		{`dbaas_proxy_token_expiry_seconds{identity="ops"}`, 1800, 1800},
		{`dbaas_proxy_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"}`, 1, 1},
	}
	now := scrape()
	for _, tt := range tests {
		t.Run(tt.series, func(t *testing.T) {
			if got := before[tt.series]; got != tt.before {
				t.Errorf("before: %v, want %v", got, tt.before)
			}
			got, ok := now[tt.series]
			if !ok {
				t.Fatalf("series missing")
			}
			if got != tt.now {
				t.Errorf("after: %v, want %v", got, tt.now)
			}
		})
	}
}

// exercise calls every Metrics method: 3 requests like rec, 1 in flight, 1 good and 1 failed
// exchange, 1 replay and 1 rejection for "host".
func exercise(m *Metrics, rec *proxy.Record) {
	for range 3 {
		m.Observe(rec)
	}
	m.RequestStarted()
	m.RequestStarted()
	m.RequestDone()
	m.TokenExchange("ops", "iam", nil)
	m.TokenExchange("ops", "iam", errors.New("bogus"))
	m.Replay("dallas")
	m.Reject("dallas", "host")
}

func TestTokenExpirySeconds(t *testing.T) {
	tests := []struct {
		name  string
		state tokensource.Status
		want  float64
	}{
		{"no token", tokensource.Status{}, 0},
		{"unknown expiry", tokensource.Status{HasToken: true}, 0},
		{"valid", tokensource.Status{HasToken: true, Expiry: t0.Add(90 * time.Second)}, 90},
		{"expired", tokensource.Status{HasToken: true, Expiry: t0.Add(-time.Second)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, scrape := metricsServer(t, func() tokensource.Status { return tt.state })
			if got := scrape()[`dbaas_proxy_token_expiry_seconds{identity="ops"}`]; got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMetricsLabelsCarryNoIDs feeds records whose paths (and broken templates) hold account ids
// and asserts that no label value in the exposition does.
func TestMetricsLabelsCarryNoIDs(t *testing.T) {
	m, scrape := metricsServer(t, func() tokensource.Status { return tokensource.Status{} })
	raw := "/api/v3/" + fakeUserID + "/clusters/4f1c2b0e-0f5e-4d0a-9a53-2b1d8e3c7f10"
	for _, rec := range []proxy.Record{
		{Method: http.MethodGet, Path: raw, Template: clustersTemplate, Status: 200},
		{Method: "BREW", Path: raw, Template: "", Status: 418},
		{Method: http.MethodGet, Path: raw, Template: raw, Status: 200},               // a template that is a raw path
		{Method: http.MethodGet, Path: raw, Template: "/api/v3/x?key=1", Status: 200}, // a query
		{Method: "get", Path: raw, Template: "other", Status: 502},
	} {
		m.Observe(&rec)
	}
	got := scrape()
	hexID := regexp.MustCompile(`[0-9a-fA-F-]{16,}`)
	for series := range got {
		if hexID.MatchString(series) || strings.Contains(series, "?") {
			t.Errorf("series %s carries an id or a query", series)
		}
	}
	for _, want := range []string{
		`dbaas_proxy_requests_total{code="418",method="OTHER",route="",template="other"}`,
		`dbaas_proxy_requests_total{code="200",method="GET",route="",template="other"}`,
		`dbaas_proxy_requests_total{code="502",method="OTHER",route="",template="other"}`,
	} {
		if _, ok := got[want]; !ok {
			t.Errorf("missing %s", want)
		}
	}
	if v := got[`dbaas_proxy_requests_total{code="200",method="GET",route="",template="other"}`]; v != 2 {
		t.Errorf("raw-path templates counted %v times as other, want 2", v)
	}
}

// TestMetricsSeriesBound: beyond maxSeries templates, new ones are counted as "other".
func TestMetricsSeriesBound(t *testing.T) {
	m, scrape := metricsServer(t, nil)
	for i := range maxSeries + 10 {
		m.Observe(&proxy.Record{Route: "default", Method: http.MethodGet, Template: "/t/" + strconv.Itoa(i), Status: 200})
	}
	got := scrape()
	if v := got[`dbaas_proxy_requests_total{code="200",method="GET",route="default",template="other"}`]; v != 10 {
		t.Fatalf("%v templates beyond the bound counted as other, want 10", v)
	}
	if _, ok := got[`dbaas_proxy_requests_total{code="200",method="GET",route="default",template="/t/`+strconv.Itoa(maxSeries)+`"}`]; ok {
		t.Fatal("a template beyond the bound has a series of its own")
	}
}

func TestMetricsNil(t *testing.T) {
	var m *Metrics
	m.Observe(&proxy.Record{})
	m.RequestStarted()
	m.RequestDone()
	m.TokenExchange("ops", "iam", nil)
	m.Replay("r")
	m.Reject("r", "host")
}

func BenchmarkObserve(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry(), "v", nil)
	recs := []proxy.Record{
		{Method: http.MethodGet, Template: clustersTemplate, Status: 200, BytesOut: 512, Duration: 3 * time.Millisecond,
			UpstreamDuration: 2 * time.Millisecond},
		{Method: http.MethodPatch, Template: "/api/v3/{user_id}/clusters/{cluster_id}/resource", Status: 202,
			BytesIn: 64, BytesOut: 20, Duration: 9 * time.Millisecond, UpstreamDuration: 8 * time.Millisecond},
		{Method: http.MethodGet, Template: "other", Status: 404, Duration: time.Millisecond},
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Observe(&recs[i%len(recs)])
			i++
		}
	})
}
