package admin

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

const adminToken = "admin-client-token"

// TestRemoteAdminNeedsAClient: on a non-loopback admin.listen the status page and the token
// refresh need a bearer token of admin.clients; probes and metrics stay open; on loopback
// nothing changes.
func TestRemoteAdminNeedsAClient(t *testing.T) {
	clients := []inbound.Client{{Name: "ops", TokenSHA256: inbound.HashToken(adminToken)}}
	good := []string{"Authorization: Bearer " + adminToken}
	tests := []struct {
		name    string
		listen  string
		clients []inbound.Client
		method  string
		path    string
		headers []string
		want    int
	}{
		{"healthz open", "10.0.0.5:9090", clients, "GET", "/healthz", nil, 200},
		{"readyz open", "10.0.0.5:9090", clients, "GET", "/readyz", nil, 200},
		{"metrics open", "10.0.0.5:9090", clients, "GET", "/metrics", nil, 200},
		{"status page without token", "10.0.0.5:9090", clients, "GET", "/", nil, 401},
		{"status page HEAD without token", "0.0.0.0:9090", clients, "HEAD", "/", nil, 401},
		{"status page wrong token", "10.0.0.5:9090", clients, "GET", "/", []string{"Authorization: Bearer nope"}, 401},
		{"status page other scheme", "10.0.0.5:9090", clients, "GET", "/", []string{"Authorization: Basic " + adminToken}, 401},
		{"status page two headers", "10.0.0.5:9090", clients, "GET", "/", append(good, "Authorization: Bearer nope"), 401},
		{"status page with token", "10.0.0.5:9090", clients, "GET", "/", good, 200},
		{"refresh without token", "10.0.0.5:9090", clients, "POST", "/token/refresh", nil, 401},
		{"refresh with token", "10.0.0.5:9090", clients, "POST", "/token/refresh", good, 202},
		{"no clients configured", "10.0.0.5:9090", nil, "GET", "/", good, 401},
		{"loopback stays open", "127.0.0.1:9090", clients, "GET", "/", nil, 200},
		{"loopback refresh stays open", "127.0.0.1:9090", nil, "POST", "/token/refresh", nil, 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			opts.Listen, opts.Clients = tt.listen, inbound.NewBearer(tt.clients)
			opts.Gatherer = prometheus.NewRegistry()
			opts.TryRefresh = func() (time.Duration, error) { return 0, nil }
			srv := serve(t, opts)
			req := tt.method + " " + tt.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
			for _, h := range tt.headers {
				req += h + "\r\n"
			}
			code, hdr, body := testkit.RawRoundTrip(t, srv.Listener.Addr().String(), tt.method, req+"\r\n")
			if code != tt.want {
				t.Fatalf("status %d (%s), want %d", code, body, tt.want)
			}
			if code != 401 {
				return
			}
			if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want Bearer", hdr.Get("WWW-Authenticate"))
			}
			if tt.method != "HEAD" && !strings.Contains(body, "admin.clients") {
				t.Errorf("body %q does not say what to configure", body)
			}
			if tt.clients == nil && !strings.Contains(body, "admin.clients is empty") {
				t.Errorf("body %q does not say that no client is configured", body)
			}
			if strings.Contains(body, adminToken) {
				t.Error("the answer shows the token")
			}
		})
	}
}

// TestTokenRefreshBudget: a refresh the token source suppressed is a 429 with Retry-After, a
// failed one a 503 that does not show the error, a started one a 202.
func TestTokenRefreshBudget(t *testing.T) {
	tests := []struct {
		name      string
		retry     time.Duration
		err       error
		want      int
		wantRetry string
	}{
		{"started", 0, nil, 202, ""},
		{"budget spent", 1500 * time.Millisecond, nil, 429, "2"},
		{"budget spent, with an error too", 30 * time.Second, errors.New("budget"), 429, "30"},
		{"failed", 0, errors.New("tokensource: internal detail"), 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			opts.TryRefresh = func() (time.Duration, error) { return tt.retry, tt.err }
			got := do(t, serve(t, opts), http.MethodPost, "/token/refresh", "", nil)
			if got.status != tt.want || got.header.Get("Retry-After") != tt.wantRetry {
				t.Fatalf("got %d Retry-After %q (%s), want %d %q", got.status, got.header.Get("Retry-After"), got.body, tt.want, tt.wantRetry)
			}
			if !strings.Contains(got.body, `"code":`) || strings.Contains(got.body, "internal detail") {
				t.Errorf("body %q: want a JSON error without the error text", got.body)
			}
		})
	}
}
