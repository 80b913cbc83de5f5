package inbound

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// check asserts a reply: its status, that it is the JSON error shape when rejected, that the
// backend ran only when allowed, and the OnReject label.
func check(t *testing.T, f *fixture, got reply, wantStatus int, wantReason string, before int) {
	t.Helper()
	if got.status != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", got.status, wantStatus, got.body)
	}
	ran := f.be.count() > before
	if wantReason == "" {
		if !ran {
			t.Errorf("backend did not run")
		}
		return
	}
	if ran {
		t.Errorf("backend ran for a rejected request")
	}
	var body jsonerr.Body
	if err := json.Unmarshal([]byte(got.body), &body); err != nil || body.Code != wantStatus || body.Message == "" {
		t.Errorf("body = %q (%v), want the JSON error shape with code %d", got.body, err, wantStatus)
	}
	if labels := f.rej.all(); !strings.HasSuffix(labels, wantReason) {
		t.Errorf("OnReject labels = %q, want the last to be %q", labels, wantReason)
	}
}

// req is a request in a defence table.
type req struct {
	method, path, host string // host: "" means 127.0.0.1:port; "%p" is replaced by the port
	headers            []string
}

func (f *fixture) send(t *testing.T, r req) reply {
	t.Helper()
	method, path, host := r.method, r.path, r.host
	if method == "" {
		method = http.MethodGet
	}
	if path == "" {
		path = "/api/v3/0123/services"
	}
	if host == "" {
		host = f.addr
	}
	return raw(t, f.addr, method, path, strings.ReplaceAll(host, "%p", f.port), append(r.headers, "Content-Length: 0"), "")
}

func TestDefences(t *testing.T) {
	const loop = "127.0.0.1:20000"
	tests := []struct {
		name       string
		cfg        Config
		listen     string
		req        req
		wantStatus int
		wantReason string // "" when the request must reach the backend
	}{
		{"curl-like request", Config{}, loop, req{method: "POST"}, 200, ""},
		{"cross-site POST by Sec-Fetch-Site", Config{}, loop, req{method: "POST", headers: []string{"Sec-Fetch-Site: cross-site"}}, 403, "cross_site"},
		{"same-site page on another port", Config{}, loop, req{method: "POST", headers: []string{"Sec-Fetch-Site: same-site", "Origin: http://localhost:8888"}}, 403, "cross_site"},
		{"cross-site POST by Origin", Config{}, loop, req{method: "POST", headers: []string{"Origin: https://evil.example"}}, 403, "cross_site"},
		{"cross-site GET without Origin", Config{}, loop, req{headers: []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors"}}, 403, "cross_site"},
		{"allowed origin", Config{AllowedOrigins: []string{"http://localhost:8888"}}, loop,
			req{method: "POST", headers: []string{"Sec-Fetch-Site: same-site", "Origin: http://LOCALHOST:8888"}}, 200, ""},
		{"other origin with an allowed list", Config{AllowedOrigins: []string{"http://localhost:8888"}}, loop,
			req{method: "POST", headers: []string{"Sec-Fetch-Site: cross-site", "Origin: http://localhost:8889"}}, 403, "cross_site"},
		{"address bar navigation", Config{}, loop, req{headers: []string{"Sec-Fetch-Site: none"}}, 200, ""},
		{"same-site alone, without Origin", Config{}, loop, req{headers: []string{"Sec-Fetch-Site: same-site"}}, 403, "cross_site"},
		{"same-site GET alone", Config{AllowedOrigins: []string{"http://localhost:8888"}}, loop, req{headers: []string{"Sec-Fetch-Site: same-site"}}, 403, "cross_site"},
		{"deny_paths judges a raw quote as forwarded (%22)", Config{DenyPaths: []string{"%22"}}, loop, req{path: `/api/v3/0123/a"b`}, 403, "path"},
		{"rebinding Host", Config{}, loop, req{host: "evil.example:%p"}, 403, "host"},
		{"rebinding Host without port", Config{}, loop, req{host: "evil.example"}, 403, "host"},
		{"localhost-prefixed Host", Config{}, loop, req{host: "localhost.evil.example:%p"}, 403, "host"},
		{"IPv6 loopback Host with port", Config{}, loop, req{host: "[::1]:%p"}, 200, ""},
		{"IPv6 loopback Host", Config{}, loop, req{host: "[::1]"}, 200, ""},
		{"bad IPv6 Host", Config{}, loop, req{host: "[::1]x"}, 403, "host"},
		{"localhost Host", Config{}, loop, req{host: "localhost"}, 200, ""},
		{"upper-case localhost Host", Config{}, loop, req{host: "LocalHost:%p"}, 200, ""},
		{"loopback Host with listen port", Config{}, loop, req{host: "127.0.0.1:20000"}, 200, ""},
		{"listen name as Host", Config{}, "[::1]:20000", req{host: "[::1]:20000"}, 200, ""},
		{"gateway listen address as Host", Config{AllowUnauthenticatedRemote: true}, "10.0.0.5:20000", req{host: "10.0.0.5:20000"}, 200, ""},
		{"gateway other Host", Config{AllowUnauthenticatedRemote: true}, "10.0.0.5:20000", req{host: "evil.example:20000"}, 403, "host"},
		{"allowed host:port", Config{AllowedHosts: []string{"Proxy.Internal:8080"}}, loop, req{host: "proxy.internal:8080"}, 200, ""},
		{"allowed host, other port", Config{AllowedHosts: []string{"proxy.internal:8080"}}, loop, req{host: "proxy.internal:9"}, 403, "host"},
		{"allowed list replaces defaults", Config{AllowedHosts: []string{"proxy.internal"}}, loop, req{host: "localhost"}, 403, "host"},
		{"allowed host any port", Config{AllowedHosts: []string{"proxy.internal"}}, loop, req{host: "proxy.internal:1234"}, 200, ""},
		{"any Host", Config{AllowedHosts: []string{"*"}}, loop, req{host: "evil.example"}, 200, ""},
		{"CIDR allowed", Config{AllowCIDRs: []string{"127.0.0.0/8"}}, loop, req{}, 200, ""},
		{"CIDR denied", Config{AllowCIDRs: []string{"10.0.0.0/8", "::1/128"}}, loop, req{}, 403, "cidr"},
		{"method allowed", Config{DenyMethods: []string{"DELETE"}}, loop, req{method: "GET"}, 200, ""},
		{"method denied", Config{DenyMethods: []string{"DELETE"}}, loop, req{method: "DELETE"}, 403, "method"},
		{"method denied in any case", Config{DenyMethods: []string{"delete"}}, loop, req{method: "Delete"}, 403, "method"},
		{"deny_paths match", Config{DenyPaths: []string{"/services$"}}, loop, req{}, 403, "path"},
		{"deny_paths no match", Config{DenyPaths: []string{"/clusters/"}}, loop, req{}, 200, ""},
		{"allow_paths inside", Config{AllowPaths: []string{"^/api/v3/"}}, loop, req{}, 200, ""},
		{"allow_paths outside", Config{AllowPaths: []string{"^/api/v3/"}}, loop, req{path: "/api/v1/0123/services"}, 403, "path"},
		{"deny wins over allow", Config{AllowPaths: []string{"^/api/v3/"}, DenyPaths: []string{"/services"}}, loop, req{}, 403, "path"},
		{"traversal under allow_paths", Config{AllowPaths: []string{"^/api/v3/"}}, loop, req{path: "/api/v3/%2e%2e/v1/x"}, 400, "encoding"},
		{"encoded letter under deny_paths", Config{DenyPaths: []string{"/services$"}}, loop, req{path: "/api/v3/0123/%73ervices"}, 400, "encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg, tt.listen)
			check(t, f, f.send(t, tt.req), tt.wantStatus, tt.wantReason, 0)
		})
	}
}

func TestTraversalRejected(t *testing.T) {
	paths := []string{
		"/api/v3/../v1/x", "/api/v3/./x", "/api/v3/..", "/api/v3/.", "/..", "/.",
		"/api/v3/%2e%2e/v1/x", "/api/v3/%2E%2E/v1/x", "/api/v3/%2e%2E/x", "/api/v3/.%2E/x",
		"/api/v3/%2e./x", "/api/v3/%2e/x", "/api/v3/%2E", "/api/v3/%2e%2e",
		"/api/v3/..;/x", "/api/v3/..%3Bx/y", "/api/v3/..%2Fx", "/api/v3/x%2F..%2Fy", "/api/v3/..%5Cx", "/a/%2e%2e%5c",
	}
	for _, policy := range []bool{false, true} {
		cfg := Config{}
		if policy {
			cfg.AllowPaths = []string{"."}
		}
		f := newFixture(t, cfg, "127.0.0.1:20000")
		for _, p := range paths {
			t.Run(p, func(t *testing.T) {
				before := f.be.count()
				check(t, f, f.send(t, req{path: p}), 400, "encoding", before)
			})
		}
	}
}

func TestPathsForwardedUntouched(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		policy     bool
		wantStatus int
	}{
		{"encoded slash without policy", "/api/v3/0123/services/a%2Fb", false, 200},
		{"encoded slash with policy", "/api/v3/0123/services/a%2Fb", true, 400},
		{"lower-case encoded slash with policy", "/api/v3/0123/services/a%2fb", true, 400},
		{"encoded backslash with policy", "/api/v3/0123/services/a%5cb", true, 400},
		{"backslash with policy", `/api/v3/0123/services/a\b`, true, 400},
		{"double slash without policy", "/api/v3//0123/services", false, 200},
		{"double slash with policy", "/api/v3//0123/services", true, 400},
		{"encoded letter without policy", "/api/v3/0123/%73ervices", false, 200},
		{"encoded space with policy", "/api/v3/0123/services/a%20b", true, 200},
		{"dots inside names", "/api/v3/0123/services/a..b/...", true, 200},
		{"double-encoded dots are a name", "/api/v3/0123/services/%252e%252e", false, 200},
		{"double-encoded dots with policy (an upstream that decodes twice sees ..)", "/api/v3/0123/services/%252e%252e", true, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{}
			if tt.policy {
				cfg.DenyPaths = []string{"^/admin"}
			}
			f := newFixture(t, cfg, "127.0.0.1:20000")
			got := f.send(t, req{path: tt.path})
			if tt.wantStatus != 200 {
				check(t, f, got, tt.wantStatus, "encoding", 0)
				return
			}
			check(t, f, got, 200, "", 0)
			if f.be.rawPath != tt.path {
				t.Errorf("backend saw path %q, want %q", f.be.rawPath, tt.path)
			}
		})
	}
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(testkit.TempDir(t), "p.sock")
	g, err := New(Config{AllowCIDRs: []string{"10.0.0.0/8"}}, Options{Listen: "unix:" + sock})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("no Unix sockets here: %v", err)
	}
	be := &backend{}
	srv := &http.Server{Handler: g.Wrap(be)}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	tests := []struct {
		name, proto, host string
		want              int
	}{
		{"localhost", "HTTP/1.1", "localhost", 200},
		{"no Host over HTTP/1.0", "HTTP/1.0", "\x00", 200},
		{"rebinding Host", "HTTP/1.1", "evil.example", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			msg := "GET /api/v3/x " + tt.proto + "\r\n"
			if tt.host != "\x00" {
				msg += "Host: " + tt.host + "\r\n"
			}
			if _, err := conn.Write([]byte(msg + "Connection: close\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufioReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestDefaultHostsNameTheListenHost pins the default Host list: the listen address's host, IPv6
// in brackets, with any port.
func TestDefaultHostsNameTheListenHost(t *testing.T) {
	for _, tt := range []struct {
		listen, host string
		want         bool
	}{
		{"[fd00::5]:20000", "[fd00::5]:20000", true},
		{"[fd00::5]:20000", "[fd00::5]", true},
		{"[fd00::5]:20000", "[fd00::6]", false},
		{"10.0.0.5:1", "10.0.0.5:1", true},
		{":20000", "localhost:20000", true},
		{":20000", ":20000", false},
	} {
		if got := newHostRule(Config{}, tt.listen).Allow(tt.host); got != tt.want {
			t.Errorf("listen %q: Allow(%q) = %v, want %v", tt.listen, tt.host, got, tt.want)
		}
	}
}
