package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
)

func TestHealthz(t *testing.T) {
	opts := baseOptions()
	opts.Ready = func(string) (bool, string) { return false, "no token yet" } // liveness ignores readiness
	srv := serve(t, opts)
	tests := []struct {
		method     string
		wantStatus int
		wantBody   string
	}{
		{http.MethodGet, http.StatusOK, "ok\n"},
		{http.MethodHead, http.StatusOK, ""},
		{http.MethodPost, http.StatusMethodNotAllowed, `"code":405`},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			got := do(t, srv, tt.method, "/healthz", "", nil)
			if got.status != tt.wantStatus || !strings.Contains(got.body, tt.wantBody) {
				t.Fatalf("got %d %q, want %d %q", got.status, got.body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantStatus == http.StatusOK && got.header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", got.header.Get("Content-Type"))
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name       string
		ready      bool
		reason     string
		wantStatus int
		wantBody   string
	}{
		{"ready", true, "", http.StatusOK, "ready\n"},
		{"ready with a warning", true, "serving the token of the previous credential", http.StatusOK,
			"ready; warning: serving the token of the previous credential\n"},
		{"not ready", false, "no token yet: the token endpoint rejected the API key (401)", http.StatusServiceUnavailable,
			"no token yet: the token endpoint rejected the API key (401)\n"},
		{"reason on one line", false, "token expired\nlast refresh failed", http.StatusServiceUnavailable,
			"token expired; last refresh failed\n"},
		{"empty reason", false, "", http.StatusServiceUnavailable, "not ready\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			opts.Ready = func(string) (bool, string) { return tt.ready, tt.reason }
			got := do(t, serve(t, opts), http.MethodGet, "/readyz", "", nil)
			if got.status != tt.wantStatus || got.body != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", got.status, got.body, tt.wantStatus, tt.wantBody)
			}
			if ct := got.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestRoutesAndHeaders(t *testing.T) {
	opts := baseOptions()
	opts.TryRefresh = func() (time.Duration, error) { return 0, nil }
	srv := serve(t, opts)
	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, ""},
		{http.MethodGet, "/healthz/", http.StatusNotFound, ""},
		{http.MethodGet, "/metrics", http.StatusNotFound, ""}, // no Gatherer
		{http.MethodDelete, "/", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPut, "/readyz", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodGet, "/token/refresh", http.StatusMethodNotAllowed, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			got := do(t, srv, tt.method, tt.path, "", nil)
			if got.status != tt.wantStatus {
				t.Fatalf("status %d, want %d", got.status, tt.wantStatus)
			}
			if a := got.header.Get("Allow"); a != tt.wantAllow {
				t.Errorf("Allow %q, want %q", a, tt.wantAllow)
			}
			var body jsonerr.Body
			if err := json.Unmarshal([]byte(got.body), &body); err != nil || body.Code != tt.wantStatus || body.Message == "" {
				t.Errorf("body %q is not the JSON error shape (%v)", got.body, err)
			}
			assertSecurityHeaders(t, got.header)
		})
	}
}

func assertSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q is not strict", csp)
	}
}

func TestTokenRefresh(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		headers    map[string]string
		wantStatus int
		wantCalls  int64
	}{
		{"plain POST", http.MethodPost, nil, http.StatusAccepted, 1},
		{"same-origin fetch metadata without Origin", http.MethodPost, map[string]string{"Sec-Fetch-Site": "none"},
			http.StatusAccepted, 1},
		{"cross-site fetch metadata", http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site"},
			http.StatusForbidden, 0},
		{"same-site fetch metadata", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-site"},
			http.StatusForbidden, 0},
		{"foreign Origin", http.MethodPost, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden, 0},
		{"GET", http.MethodGet, nil, http.StatusMethodNotAllowed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			opts := baseOptions()
			opts.TryRefresh = func() (time.Duration, error) { calls.Add(1); return 0, nil }
			got := do(t, serve(t, opts), tt.method, "/token/refresh", "", tt.headers)
			if got.status != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", got.status, got.body, tt.wantStatus)
			}
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("Refresh called %d times, want %d", n, tt.wantCalls)
			}
			if !strings.Contains(got.body, `"code":`) {
				t.Errorf("body %q is not JSON", got.body)
			}
		})
	}
	t.Run("no Refresh", func(t *testing.T) {
		got := do(t, serve(t, baseOptions()), http.MethodPost, "/token/refresh", "", nil)
		if got.status != http.StatusNotFound {
			t.Fatalf("status %d, want 404", got.status)
		}
	})
}

func TestHostCheck(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		host    string
		want    int
	}{
		{"localhost", nil, "localhost:9090", http.StatusOK},
		{"LOCALHOST no port", nil, "LOCALHOST", http.StatusOK},
		{"127.0.0.1", nil, "127.0.0.1:9090", http.StatusOK},
		{"other loopback", nil, "127.0.0.2:1", http.StatusOK},
		{"ipv6 loopback", nil, "[::1]:9090", http.StatusOK},
		{"rebinding name", nil, "evil.example:9090", http.StatusForbidden},
		{"rebinding name without port", nil, "evil.example", http.StatusForbidden},
		{"localhost subdomain", nil, "localhost.evil.example", http.StatusForbidden},
		{"lan address", nil, "10.0.0.5:9090", http.StatusForbidden},
		{"allowed name any port", []string{"Admin.Internal"}, "admin.internal:1234", http.StatusOK},
		{"allowed host:port", []string{"10.0.0.5:9090"}, "10.0.0.5:9090", http.StatusOK},
		{"allowed host:port, other port", []string{"10.0.0.5:9090"}, "10.0.0.5:9091", http.StatusForbidden},
		{"allowed ipv6", []string{"[fd00::5]"}, "[fd00::5]:9090", http.StatusOK},
		{"loopback still allowed", []string{"admin.internal"}, "127.0.0.1:9090", http.StatusOK},
		{"not in list", []string{"admin.internal"}, "evil.example", http.StatusForbidden},
		{"star", []string{"*"}, "10.1.2.3:9090", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			opts.AllowedHosts = tt.allowed
			got := do(t, serve(t, opts), http.MethodGet, "/healthz", tt.host, nil)
			if got.status != tt.want {
				t.Fatalf("Host %q: status %d (%s), want %d", tt.host, got.status, got.body, tt.want)
			}
			if tt.want == http.StatusForbidden && !strings.Contains(got.body, "admin.allowed_hosts") {
				t.Errorf("body %q does not say what to configure", got.body)
			}
		})
	}
}

func TestNewHandlerPanicsWithoutRequiredOptions(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
	}{
		{"no Token", func(o *Options) { o.Token = nil }},
		{"no Ready", func(o *Options) { o.Ready = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			tt.edit(&opts)
			defer func() {
				if recover() == nil {
					t.Fatal("NewHandler did not panic")
				}
			}()
			NewHandler(opts)
		})
	}
}
