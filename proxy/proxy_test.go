package proxy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoReply is what the emulator's _echo endpoint reports about the request that arrived.
type echoReply struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	RawQuery   string              `json:"raw_query"`
	Host       string              `json:"host"`
	Header     map[string][]string `json:"header"`
	BodyBytes  int64               `json:"body_bytes"`
	BodySHA256 string              `json:"body_sha256"`
}

func decodeEcho(t *testing.T, b []byte) echoReply {
	t.Helper()
	var e echoReply
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("echo reply %q: %v", b, err)
	}
	return e
}

func TestListServices(t *testing.T) {
	h := newHarness(t, setup{})
	b := h.get("/api/v3/"+h.em.UserID()+"/services", http.StatusOK)
	var got struct {
		Services []struct {
			Service struct {
				Name string `json:"name"`
			} `json:"service"`
			ClusterID string `json:"cluster_id"`
		} `json:"services"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("services: %v in %s", err, b)
	}
	if len(got.Services) == 0 || got.Services[0].ClusterID == "" || got.Services[0].Service.Name == "" {
		t.Fatalf("services = %s, want at least one service with a name and a cluster id", b)
	}
}

func TestColdStartMakesOneExchange(t *testing.T) {
	h := newHarness(t, setup{noStart: true})
	const n = 200
	var wg sync.WaitGroup
	var failed atomic.Int64
	path := "/api/v3/" + h.em.UserID() + "/services"
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.client.Get(h.front.URL + path)
			if err != nil {
				failed.Add(1)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Errorf("%d of %d requests failed", f, n)
	}
	if got := h.em.Counters().TokenExchanges; got != 1 {
		t.Errorf("token exchanges = %d for %d concurrent requests at a cold start, want 1", got, n)
	}
}

func TestPathQueryAndBodyPassUnchanged(t *testing.T) {
	h := newHarness(t, setup{})
	uid := h.em.UserID()
	tests := []struct{ name, path, query string }{
		{"plain", "/api/v3/" + uid + "/_echo/a", ""},
		{"encoded slash", "/api/v3/" + uid + "/_echo/a%2Fb", ""},
		{"double slash", "/api/v3/" + uid + "/_echo//x//y", ""},
		{"encoded space and query", "/api/v3/" + uid + "/_echo/a%20b", "x=1&y=%2F&x=2"},
		{"v1", "/api/v1/" + uid + "/_echo/z", ""},
		{"v2", "/api/v2/" + uid + "/_echo/z", "q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.path
			if tt.query != "" {
				target += "?" + tt.query
			}
			body := strings.Repeat("payload-", 1000)
			code, _, b := h.do(http.MethodPut, target, strings.NewReader(body), map[string]string{
				"Content-Type": "application/json", "X-Custom": "kept",
			})
			if code != http.StatusOK {
				t.Fatalf("PUT %s = %d: %s", target, code, b)
			}
			e := decodeEcho(t, b)
			sum := sha256.Sum256([]byte(body))
			if e.Path != tt.path || e.RawQuery != tt.query || e.Method != http.MethodPut {
				t.Errorf("upstream saw %s %s ? %s, want PUT %s ? %s", e.Method, e.Path, e.RawQuery, tt.path, tt.query)
			}
			if e.BodySHA256 != hex.EncodeToString(sum[:]) || e.BodyBytes != int64(len(body)) {
				t.Errorf("upstream body = %d bytes %s, want %d bytes", e.BodyBytes, e.BodySHA256, len(body))
			}
			if got := first(e.Header, "X-Custom"); got != "kept" {
				t.Errorf("X-Custom upstream = %q, want kept", got)
			}
			if !strings.HasPrefix(h.em.URL(), "https://"+e.Host) {
				t.Errorf("upstream Host = %q, want the upstream's own (%s)", e.Host, h.em.URL())
			}
		})
	}
}

func first(h map[string][]string, k string) string {
	for name, v := range h {
		if strings.EqualFold(name, k) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// TestClientCredentialsNeverReachUpstream: each credential header a client may send is
// deleted, and the proxy's own token is the only one the upstream sees.
func TestClientCredentialsNeverReachUpstream(t *testing.T) {
	h := newHarness(t, setup{})
	uid := h.em.UserID()
	h.get("/api/v3/"+uid+"/services", http.StatusOK) // warm: learn the real token
	real := first(h.lastArrival().Header, "X-Auth-Token")
	if real == "" {
		t.Fatal("the proxy sent no x-auth-token")
	}
	tests := []struct{ name, header, value string }{
		{"spoofed x-auth-token", "X-Auth-Token", "spoofed-token"},
		{"lower-case x-auth-token", "x-auth-token", "spoofed-token"},
		{"api_key", "api_key", "spoofed-api-key"},
		{"Api_key", "Api_key", "spoofed-api-key"},
		{"bearer", "Authorization", "Bearer spoofed-bearer"},
		{"proxy authorization", "Proxy-Authorization", "Basic c3Bvb2Y6ZWQ="},
		{"cookie", "Cookie", "session=spoofed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, b := h.do(http.MethodGet, "/api/v3/"+uid+"/_echo", nil, map[string]string{tt.header: tt.value})
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, b)
			}
			e := decodeEcho(t, b)
			for name, vals := range e.Header {
				for _, v := range vals {
					if strings.Contains(v, "spoof") || strings.Contains(v, "c3Bvb2Y6ZWQ=") {
						t.Errorf("upstream got %s: %s from the client", name, v)
					}
				}
			}
			if got := first(e.Header, "X-Auth-Token"); got != real {
				t.Errorf("upstream x-auth-token is not the proxy's token (len %d)", len(got))
			}
		})
	}
}

func TestBearerHeaderMode(t *testing.T) {
	h := newHarness(t, setup{header: "authorization"})
	b := h.get("/api/v3/"+h.em.UserID()+"/_echo", http.StatusOK)
	e := decodeEcho(t, b)
	if got := first(e.Header, "Authorization"); !strings.HasPrefix(got, "Bearer ey") {
		t.Errorf("Authorization upstream = %.12q..., want Bearer <jwt>", got)
	}
	if got := first(e.Header, "X-Auth-Token"); got != "" {
		t.Errorf("x-auth-token also sent in authorization mode")
	}
}

func TestLocalTokenEndpoint(t *testing.T) {
	h := newHarness(t, setup{})
	h.get("/api/v3/"+h.em.UserID()+"/services", http.StatusOK)
	real := first(h.lastArrival().Header, "X-Auth-Token")
	before := h.em.Counters().TokenRequests
	for _, v := range []string{"v1", "v2", "v3"} {
		t.Run(v, func(t *testing.T) {
			code, hdr, b := h.do(http.MethodGet, "/api/"+v+"/auth/token", nil, map[string]string{"api_key": "whatever-the-tool-has"})
			if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d, content-type %q: %s", code, hdr.Get("Content-Type"), b)
			}
			var got struct {
				AccessToken string `json:"access_token"`
				UserID      string `json:"user_id"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.UserID != h.em.UserID() {
				t.Errorf("user_id = %q, want %q", got.UserID, h.em.UserID())
			}
			if got.AccessToken == "" || got.AccessToken == real || strings.Contains(string(b), real) {
				t.Errorf("access_token must be a placeholder, never the real token")
			}
			parts := strings.Split(got.AccessToken, ".")
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if len(parts) != 3 || err != nil || !bytes.Contains(payload, []byte(`"exp":`)) {
				t.Errorf("placeholder %q is not JWT-shaped with an exp", got.AccessToken)
			}
		})
	}
	if after := h.em.Counters().TokenRequests; after != before {
		t.Errorf("the local token endpoint reached the upstream's (%d token requests, want %d)", after, before)
	}
	// A legacy tool then sends the placeholder: it is replaced by the real token.
	_, _, b := h.do(http.MethodGet, "/api/v1/auth/token", nil, nil)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(b, &tok)
	_, _, b = h.do(http.MethodGet, "/api/v3/"+h.em.UserID()+"/_echo", nil, map[string]string{"X-Auth-Token": tok.AccessToken})
	if got := first(decodeEcho(t, b).Header, "X-Auth-Token"); got != real {
		t.Error("the placeholder was forwarded instead of the real token")
	}
}

func TestMeRewrite(t *testing.T) {
	h := newHarness(t, setup{})
	uid := h.em.UserID()
	tests := []struct{ in, want string }{
		{"/api/v3/me/services", "/api/v3/" + uid + "/services"},
		{"/api/v1/me/_echo/a%2Fb", "/api/v1/" + uid + "/_echo/a%2Fb"},
		{"/api/v2/me/_echo?x=1", "/api/v2/" + uid + "/_echo"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h.get(tt.in, http.StatusOK)
			if got := h.lastArrival().Path; got != tt.want {
				t.Errorf("upstream path = %q, want %q", got, tt.want)
			}
		})
	}
	// "me" elsewhere in a path is not rewritten.
	h.get("/api/v3/"+uid+"/_echo/me/x", http.StatusOK)
	if got := h.lastArrival().Path; got != "/api/v3/"+uid+"/_echo/me/x" {
		t.Errorf("upstream path = %q, want it unchanged", got)
	}
}

func TestPathsOutsideAPIAreNotForwarded(t *testing.T) {
	h := newHarness(t, setup{})
	for _, p := range []string{"/", "/favicon.ico", "/apix/v3/services", "/API/v3/x", "//api/v3/x"} {
		t.Run(p, func(t *testing.T) {
			before := h.em.Counters().Requests
			code, _, b := h.do(http.MethodGet, p, nil, nil)
			if code != http.StatusNotFound {
				t.Fatalf("GET %s = %d, want 404", p, code)
			}
			if c, msg := jsonError(t, b); c != 404 || !strings.Contains(msg, "/api/") {
				t.Errorf("error = %d %q, want 404 naming /api/", c, msg)
			}
			if h.em.Counters().Requests != before {
				t.Errorf("GET %s reached the upstream", p)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	uid := "0123456789abcdef0123456789abcdef"
	tests := []struct{ path, want string }{
		{"/api/v3/" + uid + "/services", "/api/v3/{user_id}/services"},
		{"/api/v3/" + uid + "/clusters/abc/users/bob", "/api/v3/{user_id}/clusters/{cluster_id}/users/{db_user_id}"},
		{"/api/v1/auth/token", "/api/v1/auth/token"},
		{"/api/v3/" + uid + "/nodes/n1/logs/postgresql.log", "/api/v3/{user_id}/nodes/{node_id}/logs/{log_name}"},
		{"/api/v3/" + uid + "/clusters/c/backups/cos/enable", "/api/v3/{user_id}/clusters/{cluster_id}/backups/cos/enable"},
		{"/api/v3/" + uid + "/secret-looking-thing", "other"},
		{"/api/v33/" + uid + "/services", "other"},
		{"/api/v3/" + uid + "/services/a/b", "other"},
		{"/other", "other"},
	}
	for _, tt := range tests {
		if got := proxy.Template(tt.path); got != tt.want {
			t.Errorf("Template(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestRequestIDSurvivesA1xx: the ReverseProxy clears the response headers after relaying an
// upstream 100 Continue; the final answer still carries the request id.
func TestRequestIDSurvivesA1xx(t *testing.T) {
	h := newHarness(t, setup{})
	for _, expect := range []string{"", "100-continue"} {
		t.Run("expect="+expect, func(t *testing.T) {
			hdr := map[string]string{"X-Request-Id": "req-" + expect, "Content-Type": "application/json"}
			if expect != "" {
				hdr["Expect"] = expect
			}
			code, got, b := h.do(http.MethodPost, "/api/v3/me/_echo", strings.NewReader(`{"a":1}`), hdr)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, b)
			}
			if id := got.Get("X-Request-Id"); id != "req-"+expect {
				t.Errorf("X-Request-Id = %q, want %q", id, "req-"+expect)
			}
		})
	}
}
