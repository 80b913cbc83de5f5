package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// TestTokenLookalikesAreNeverForwarded: paths a server could read as the token endpoint are
// refused with a 400 that names the exact endpoint, and never reach the upstream (with the
// proxy's token attached).
func TestTokenLookalikesAreNeverForwarded(t *testing.T) {
	e := newEdge(t, edgeSetup{})
	for _, p := range []string{
		"/api/v1/auth/token/", "/api/v1/auth//token", "/api/v1/auth/%74oken", "/api/v1/AUTH/token",
		"/api/vX/auth/token", "/api/v1/auth/token;x", "/api//v1/auth/token", "/api/v1/auth/token%2F",
		"/api/v1/x/../auth/token", "/api/v1/auth/token/more", `/api/v1\auth\token`, "/api/v1/auth/%54OKEN",
		"/api/v1/auth/token%20", "/api/v1/auth/token%00", "/api/v1/auth/token.json", "/api/v1/auth/token%09;x",
	} {
		t.Run(p, func(t *testing.T) {
			code, _, body := e.raw(t, "GET", p, nil, "")
			if c, msg := jsonError(t, []byte(body)); code != 400 || c != 400 || !strings.Contains(msg, "GET /api/v1/auth/token") {
				t.Errorf("GET %s = %d %q, want 400 naming the token endpoint", p, code, msg)
			}
		})
	}
	if got := e.up.arrivals(); len(got) != 0 {
		t.Fatalf("the upstream got %d look-alikes, first %q", len(got), got[0].uri)
	}
	// The exact endpoint is still answered locally, and near misses that are not look-alikes
	// are still forwarded.
	if code, _, _ := e.raw(t, "GET", "/api/v1/auth/token", nil, ""); code != 200 {
		t.Errorf("the token endpoint answered %d", code)
	}
	for _, p := range []string{"/api/v3/" + fuzzUser + "/auth/tokens", "/api/v3/" + fuzzUser + "/services/token"} {
		if code, _, _ := e.raw(t, "GET", p, nil, ""); code != 200 {
			t.Errorf("GET %s = %d, want it forwarded", p, code)
		}
	}
	if got := e.up.arrivals(); len(got) != 2 {
		t.Errorf("the upstream got %d requests, want the 2 near misses", len(got))
	}
}

// TestSecretQueryParametersAreStripped: credential-named query parameters never reach the
// upstream and never appear in a log line, at any level; the rest of the query goes byte for
// byte, however the name is encoded.
func TestSecretQueryParametersAreStripped(t *testing.T) {
	e := newEdge(t, edgeSetup{})
	const secret = "s3cr3t-value"
	tests := []struct{ query, want string }{
		{"api_key=" + secret, ""},
		{"a=1&API_KEY=" + secret + "&b=%zz", "a=1&b=%zz"},
		{"apikey=" + secret + ";x=1;y", "x=1;y"},
		{"b=2&Access_Token=" + secret, "b=2"},
		{"x-auth-token=" + secret + "&c=3&X_AUTH_TOKEN=" + secret, "c=3"},
		{"api%5Fkey=" + secret + "&d=4", "d=4"},
		// issue 16: the name fully percent-encoded (36 bytes), once let through by a length check
		{"%61%63%63%65%73%73%5F%74%6F%6B%65%6E=" + secret + "&e=5", "e=5"},
		{"z=1;b=2&&api_key", "z=1;b=2&"},
		{"api_keys=1&my_api_key=2", "api_keys=1&my_api_key=2"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			if code, _, _ := e.raw(t, "GET", "/api/v3/x?"+tt.query, nil, ""); code != 200 {
				t.Fatalf("status %d", code)
			}
			got := e.up.arrivals()
			want := "/api/v3/x"
			if tt.want != "" {
				want += "?" + tt.want
			}
			if uri := got[len(got)-1].uri; uri != want {
				t.Errorf("upstream got %q, want %q", uri, want)
			}
		})
	}
	if logs := e.logs.String(); strings.Contains(logs, secret) || !strings.Contains(logs, `"query":"a=1&b=%zz"`) {
		t.Errorf("trace-level logs show the secret, or not the rest of the query:\n%s", logs)
	}
}

// TestPolicyJudgesTheForwardedPath: a deny_paths rule written for the form the proxy forwards
// (a '"' is forwarded as %22) cannot be passed by sending the byte raw.
func TestPolicyJudgesTheForwardedPath(t *testing.T) {
	e := newEdge(t, edgeSetup{inbound: &inbound.Config{DenyPaths: []string{"%22"}}})
	for _, target := range []string{`/api/v3/x/a"b`, "/api/v3/x/a%22b"} {
		if code, _, body := e.raw(t, "GET", target, nil, ""); code != http.StatusForbidden {
			t.Errorf("GET %s = %d (%s), want 403 from deny_paths", target, code, body)
		}
	}
	if got := e.up.arrivals(); len(got) != 0 {
		t.Errorf("the upstream got %q", got[0].uri)
	}
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// slowSource takes 10 s of the fake clock to give its token.
type slowSource struct{ clock *fakeClock }

func (s slowSource) Token(context.Context) (tokensource.Token, error) {
	s.clock.add(10 * time.Second)
	return tokensource.Token{AccessToken: fuzzToken, UserID: fuzzUser, Expiry: time.Now().Add(time.Hour)}, nil
}

// TestUpstreamDurationIsTheRoundTripOnly: with TimeUpstream under the token transport, the
// token wait is not upstream time; only the upstream's own time is.
func TestUpstreamDurationIsTheRoundTripOnly(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	upstream := &recorder{}
	e := newEdge(t, edgeSetup{
		now:    clock.now,
		source: slowSource{clock},
		wrap:   proxyTimeUpstream,
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			clock.add(time.Second) // the upstream takes 1 s
			upstream.ServeHTTP(w, r)
		}),
	})
	if code, _, _ := e.raw(t, "POST", "/api/v3/x", []string{"Content-Length: 5"}, "hello"); code != 200 {
		t.Fatalf("status %d", code)
	}
	rec := e.record(t)
	if rec.UpstreamDuration != time.Second || rec.Duration != 11*time.Second {
		t.Errorf("upstream_duration %v, duration %v; want 1s of the 11s (10s were the token wait)", rec.UpstreamDuration, rec.Duration)
	}
}
