package admin

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	healthy := serve(t, baseOptions())
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "sick", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	closed := closedAddr(t)
	tests := []struct {
		name    string
		addr    string
		wantErr string // "" means success
	}{
		{"healthy", healthy.Listener.Addr().String(), ""},
		{"healthy via unspecified host", "0.0.0.0:" + port(t, healthy.Listener.Addr()), ""},
		{"healthy via empty host", ":" + port(t, healthy.Listener.Addr()), ""},
		{"unhealthy", failing.Listener.Addr().String(), "answered 503, want 200"},
		{"nothing listening", closed, "refused"}, // Windows: "... actively refused it."
		{"no port", "127.0.0.1", "is not host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Probe(ctx, tt.addr, "/healthz")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Probe: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Probe: %v, want an error containing %q", err, tt.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "admin: probe"):
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestProbeHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Probe(ctx, serve(t, baseOptions()).Listener.Addr().String(), "/healthz"); err == nil ||
		!strings.Contains(err.Error(), context.Canceled.Error()) {
		t.Fatalf("Probe with a cancelled context: %v", err)
	}
}

func TestProbeTarget(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1:9090", "127.0.0.1:9090"},
		{"0.0.0.0:9090", "127.0.0.1:9090"},
		{":9090", "127.0.0.1:9090"},
		{"[::]:9090", "[::1]:9090"},
		{"[::1]:9090", "[::1]:9090"},
		{"admin.internal:9090", "admin.internal:9090"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := probeTarget(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("probeTarget(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func port(t *testing.T, a net.Addr) string {
	t.Helper()
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}
