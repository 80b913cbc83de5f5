package inbound

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

const trusted = "http://localhost:8888"

// corsWant is what a CORS test expects of an answer's headers; "" means the header is absent.
type corsWant struct {
	allowOrigin, allowMethods, allowHeaders, maxAge, expose string
	vary                                                    []string // each must be listed in Vary
}

func checkCORS(t *testing.T, h http.Header, want corsWant) {
	t.Helper()
	for _, c := range []struct{ name, want string }{
		{"Access-Control-Allow-Origin", want.allowOrigin},
		{"Access-Control-Allow-Methods", want.allowMethods},
		{"Access-Control-Allow-Headers", want.allowHeaders},
		{"Access-Control-Max-Age", want.maxAge},
		{"Access-Control-Expose-Headers", want.expose},
		{"Access-Control-Allow-Credentials", ""},
	} {
		if got := strings.Join(h.Values(c.name), " | "); got != c.want {
			t.Errorf("%s = %q, want %q", c.name, got, c.want)
		}
	}
	vary := strings.ToLower(strings.Join(h.Values("Vary"), ","))
	for _, v := range want.vary {
		if !strings.Contains(vary, strings.ToLower(v)) {
			t.Errorf("Vary %q lacks %s", vary, v)
		}
	}
	if len(want.vary) == 0 && vary != "" {
		t.Errorf("Vary = %q, want none", vary)
	}
}

func TestCORS(t *testing.T) {
	allowed := Config{AllowedOrigins: []string{trusted}, DenyMethods: []string{"DELETE"}}
	simple := corsWant{allowOrigin: trusted, expose: "X-Request-Id", vary: []string{"Origin"}}
	preflight := func(method, headers string) corsWant {
		return corsWant{allowOrigin: trusted, allowMethods: method, allowHeaders: headers, maxAge: "600",
			expose: "X-Request-Id", vary: []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}}
	}
	origin := "Origin: " + trusted
	tests := []struct {
		name       string
		cfg        Config
		req        req
		wantStatus int
		wantReason string // "" when the request must reach the backend; "-" when answered locally
		want       corsWant
	}{
		{"allowed origin GET", allowed, req{headers: []string{origin, "Sec-Fetch-Site: same-site"}}, 200, "", simple},
		{"allowed origin POST", allowed, req{method: "POST", headers: []string{origin}}, 200, "", simple},
		{"origin echoed as sent", allowed, req{headers: []string{"Origin: http://LocalHost:8888"}}, 200, "",
			corsWant{allowOrigin: "http://LocalHost:8888", expose: "X-Request-Id", vary: []string{"Origin"}}},
		{"other origin", allowed, req{headers: []string{"Origin: http://localhost:8889"}}, 403, "cross_site",
			corsWant{vary: []string{"Origin"}}},
		{"no origin with a list", allowed, req{}, 200, "", corsWant{vary: []string{"Origin"}}},
		{"no origin without a list", Config{}, req{}, 200, "", corsWant{}},
		{"foreign origin without a list", Config{}, req{headers: []string{"Origin: https://evil.example"}}, 403, "cross_site",
			corsWant{vary: []string{"Origin"}}},
		{"allowed origin, denied method", allowed, req{method: "DELETE", headers: []string{origin}}, 403, "method", simple},
		{"preflight", allowed, req{method: "OPTIONS", headers: []string{origin, "Access-Control-Request-Method: POST",
			"Access-Control-Request-Headers: Content-Type,X-Client , accept-license-agreement"}},
			204, "-", preflight("POST", "content-type, x-client, accept-license-agreement")},
		{"preflight without headers", allowed, req{method: "OPTIONS", headers: []string{origin, "Access-Control-Request-Method: PATCH"}},
			204, "-", preflight("PATCH", "")},
		{"preflight for a denied method", allowed, req{method: "OPTIONS", headers: []string{origin, "Access-Control-Request-Method: DELETE"}},
			403, "method", simple},
		{"preflight from another origin", allowed, req{method: "OPTIONS", headers: []string{"Origin: http://localhost:8889",
			"Access-Control-Request-Method: POST"}}, 403, "cross_site", corsWant{vary: []string{"Origin"}}},
		{"preflight from a foreign origin without a list", Config{}, req{method: "OPTIONS", headers: []string{
			"Origin: https://evil.example", "Access-Control-Request-Method: GET"}}, 403, "cross_site", corsWant{vary: []string{"Origin"}}},
		{"preflight with a bad method", allowed, req{method: "OPTIONS", headers: []string{origin, "Access-Control-Request-Method: P(ST"}},
			400, "cors", simple},
		{"preflight with bad headers", allowed, req{method: "OPTIONS", headers: []string{origin, "Access-Control-Request-Method: GET",
			"Access-Control-Request-Headers: x y"}}, 400, "cors", simple},
		{"preflight with a rebinding Host", allowed, req{method: "OPTIONS", host: "evil.example:%p", headers: []string{origin,
			"Access-Control-Request-Method: GET"}}, 403, "host", simple},
		{"OPTIONS that is no preflight", allowed, req{method: "OPTIONS", headers: []string{origin}}, 200, "", simple},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg, "127.0.0.1:20000")
			got := f.send(t, tt.req)
			if tt.wantReason == "-" {
				if got.status != tt.wantStatus || f.be.count() != 0 || f.rej.all() != "" {
					t.Errorf("status %d, backend calls %d, rejections %q; want %d answered locally",
						got.status, f.be.count(), f.rej.all(), tt.wantStatus)
				}
			} else {
				check(t, f, got, tt.wantStatus, tt.wantReason, 0)
			}
			checkCORS(t, got.header, tt.want)
		})
	}
}

// TestCORSWithAuthentication checks that preflights need no credential (browsers send none) and
// that a trusted page can read why its request was refused.
func TestCORSWithAuthentication(t *testing.T) {
	cfg := Config{AllowedOrigins: []string{trusted}, Clients: []Client{{Name: "web", TokenSHA256: goodHash}}}
	f := newFixture(t, cfg, "127.0.0.1:20000")
	origin := "Origin: " + trusted
	got := f.send(t, req{method: "OPTIONS", headers: []string{origin, "Access-Control-Request-Method: GET",
		"Access-Control-Request-Headers: authorization"}})
	if got.status != http.StatusNoContent || f.be.count() != 0 {
		t.Fatalf("preflight = %d (backend calls %d), want 204 answered locally", got.status, f.be.count())
	}
	checkCORS(t, got.header, corsWant{allowOrigin: trusted, allowMethods: "GET", allowHeaders: "authorization",
		maxAge: "600", expose: "X-Request-Id", vary: []string{"Origin", "Access-Control-Request-Method"}})

	got = f.send(t, req{headers: []string{origin}})
	check(t, f, got, http.StatusUnauthorized, "auth", 0)
	checkCORS(t, got.header, corsWant{allowOrigin: trusted, expose: "X-Request-Id", vary: []string{"Origin"}})

	got = f.send(t, req{headers: []string{origin, "Authorization: Bearer test"}})
	check(t, f, got, http.StatusOK, "", 0)
	checkCORS(t, got.header, corsWant{allowOrigin: trusted, expose: "X-Request-Id", vary: []string{"Origin"}})
}

// upstreamCORS answers like an upstream that sends CORS headers of its own, flushing first.
type upstreamCORS struct{ flushErr chan error }

func (u upstreamCORS) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Allow-Methods", "GET, DELETE")
	h.Set("Vary", "Accept-Encoding")
	w.WriteHeader(http.StatusOK)
	u.flushErr <- http.NewResponseController(w).Flush()
	_, _ = w.Write([]byte("ok"))
}

// TestCORSReplacesUpstreamHeaders checks that the proxy, not the upstream, decides what a page
// may read, and that streaming still works through the CORS writer.
func TestCORSReplacesUpstreamHeaders(t *testing.T) {
	g, err := New(Config{AllowedOrigins: []string{trusted}}, Options{Listen: "127.0.0.1:20000", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	up := upstreamCORS{flushErr: make(chan error, 1)}
	srv := httptest.NewServer(g.Wrap(up))
	defer srv.Close()
	got := raw(t, srv.Listener.Addr().String(), http.MethodGet, "/api/v3/x/services", srv.Listener.Addr().String(),
		[]string{"Origin: " + trusted}, "")
	if got.status != http.StatusOK || got.body != "ok" {
		t.Fatalf("GET = %d %q", got.status, got.body)
	}
	if err := <-up.flushErr; err != nil {
		t.Errorf("Flush through the CORS writer: %v", err)
	}
	checkCORS(t, got.header, corsWant{allowOrigin: trusted, expose: "X-Request-Id", vary: []string{"Origin", "Accept-Encoding"}})
}

// FuzzPreflight checks what a preflight from a trusted page can make the Guard echo: only a
// method name and a list of header names, never credentials, and never a call to the backend.
func FuzzPreflight(f *testing.F) {
	for _, s := range [][2]string{{"POST", "content-type"}, {"DELETE", ""}, {"P(ST", "x"}, {"GET", "a, b,,c"},
		{"GET", "x y"}, {"PATCH", "authorization, x-auth-token"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	g, err := New(Config{AllowedOrigins: []string{trusted}, DenyMethods: []string{"DELETE"}},
		Options{Listen: "127.0.0.1:20000", Logger: zerolog.Nop()})
	if err != nil {
		f.Fatal(err)
	}
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-Reached", "1") }))
	f.Fuzz(func(t *testing.T, method, headers string) {
		r := httptest.NewRequest(http.MethodOptions, "/api/v3/x/services", nil)
		r.Header.Set("Origin", trusted)
		r.Header.Set("Access-Control-Request-Method", method)
		r.Header.Set("Access-Control-Request-Headers", headers)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Result().Header
		if method != "" && got.Get("X-Reached") != "" {
			t.Fatalf("a preflight reached the backend")
		}
		if got.Get("Access-Control-Allow-Credentials") != "" || got.Get("Access-Control-Allow-Origin") != trusted {
			t.Fatalf("CORS headers %v", got)
		}
		if w.Code != http.StatusNoContent {
			return
		}
		if m := got.Get("Access-Control-Allow-Methods"); m != method || !isToken(m) || strings.EqualFold(m, "DELETE") {
			t.Fatalf("Access-Control-Allow-Methods = %q for %q", m, method)
		}
		for _, name := range strings.Split(got.Get("Access-Control-Allow-Headers"), ", ") {
			if name != "" && !isToken(name) {
				t.Fatalf("Access-Control-Allow-Headers has %q for %q", name, headers)
			}
		}
	})
}
