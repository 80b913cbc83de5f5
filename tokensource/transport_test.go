package tokensource

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// seen is one request as the fake upstream received it.
type seen struct {
	header http.Header
	body   []byte
}

// upstream is a fake DBaaS API over real TLS on loopback. status decides each answer from
// the token the request carried.
type upstream struct {
	srv    *httptest.Server
	status func(token string) int
	mu     sync.Mutex
	got    []seen
}

func newUpstream(t *testing.T, status func(token string) int) *upstream {
	t.Helper()
	u := &upstream{status: status}
	u.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got = append(u.got, seen{header: r.Header.Clone(), body: body})
		u.mu.Unlock()
		tok := r.Header.Get("X-Auth-Token")
		if tok == "" {
			tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		code := u.status(tok)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "upstream answered "+http.StatusText(code))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.got...)
}

// rejectTok1 accepts every token but tok-1.
func rejectTok1(status int) func(string) int {
	return func(tok string) int {
		if tok == "tok-1" {
			return status
		}
		return http.StatusOK
	}
}

// staticSource always gives the same token, or err.
type staticSource struct {
	tok Token
	err error
}

func (s staticSource) Token(context.Context) (Token, error) { return s.tok, s.err }

// cachedOf is a Cached over src with the default options.
func cachedOf(src Source) *Cached { return NewCached(src, CachedOptions{Logger: zerolog.Nop()}) }

// trackedBody records whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

// warmCached returns a Cached over a fakeSource that already holds tok-1.
func warmCached(t *testing.T) (*Cached, *fakeSource) {
	t.Helper()
	src := newFakeSource(time.Now, time.Hour)
	c := NewCached(src, CachedOptions{Logger: zerolog.Nop()})
	t.Cleanup(c.Close)
	if _, err := c.Token(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
	return c, src
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTransportStripsClientCredentials(t *testing.T) {
	tests := []struct{ name, header string }{
		{"spoofed x-auth-token", "X-Auth-Token"},
		{"spoofed x-auth-token, lower case", "x-auth-token"},
		{"spoofed x_auth_token with underscores", "x_auth_token"},
		{"spoofed Authorization", "Authorization"},
		{"spoofed api_key", "api_key"},
		{"spoofed Api-Key", "Api-Key"},
		{"spoofed Proxy-Authorization", "Proxy-Authorization"},
		{"spoofed Cookie", "Cookie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(string) int { return http.StatusOK })
			tr := &Transport{Cache: cachedOf(staticSource{tok: Token{AccessToken: "real-token"}}), Base: up.srv.Client().Transport}
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, up.srv.URL+"/api/v3/u/services", nil)
			req.Header[tt.header] = []string{"spoof"}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := up.requests()[0].header
			for name, values := range got {
				for _, v := range values {
					if strings.Contains(v, "spoof") {
						t.Errorf("upstream got %s: %s", name, v)
					}
				}
			}
			if v := got.Values("X-Auth-Token"); len(v) != 1 || v[0] != "real-token" {
				t.Errorf("upstream got X-Auth-Token %q, want exactly the real token", v)
			}
			if req.Header[tt.header][0] != "spoof" || req.Header.Get("X-Auth-Token") != "" && tt.header != "X-Auth-Token" {
				t.Errorf("the caller's request was changed: %v", req.Header)
			}
		})
	}
}

func TestTransportHeaderOption(t *testing.T) {
	tests := []struct {
		option, wantAuth, wantX string
	}{
		{"", "", "tok"},
		{"x-auth-token", "", "tok"},
		{"X-Auth-Token", "", "tok"},
		{"authorization", "Bearer tok", ""},
		{"Authorization", "Bearer tok", ""},
	}
	for _, tt := range tests {
		t.Run("Header="+tt.option, func(t *testing.T) {
			up := newUpstream(t, func(string) int { return http.StatusOK })
			tr := &Transport{Cache: cachedOf(staticSource{tok: Token{AccessToken: "tok"}}), Base: up.srv.Client().Transport, Header: tt.option}
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, up.srv.URL, nil)
			req.Header.Set("Authorization", "Bearer spoof")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := up.requests()[0].header
			if h.Get("Authorization") != tt.wantAuth || h.Get("X-Auth-Token") != tt.wantX {
				t.Errorf("Authorization %q X-Auth-Token %q, want %q and %q", h.Get("Authorization"), h.Get("X-Auth-Token"), tt.wantAuth, tt.wantX)
			}
		})
	}
}

func TestTransportReplaysOnceWithNewToken(t *testing.T) {
	payload := []byte(`{"name":"svc","catalog":"hyperp-dbaas-postgresql"}`)
	tests := []struct {
		name  string
		build func(t *testing.T, url string) *http.Request
	}{
		{"GET without body", func(t *testing.T, url string) *http.Request {
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, url, nil)
			return req
		}},
		{"POST with GetBody", func(t *testing.T, url string) *http.Request {
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url, bytes.NewReader(payload))
			return req
		}},
		{"POST of known length, kept", func(t *testing.T, url string) *http.Request {
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url, bytes.NewReader(payload))
			req.GetBody = nil
			return req
		}},
		{"POST chunked, kept", func(t *testing.T, url string) *http.Request {
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url, io.MultiReader(bytes.NewReader(payload)))
			return req
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, rejectTok1(http.StatusUnauthorized))
			c, src := warmCached(t)
			var replays atomic.Int64
			tr := &Transport{Cache: c, Base: up.srv.Client().Transport, OnReplay: func(*http.Request) { replays.Add(1) }}
			req := tt.build(t, up.srv.URL+"/api/v3/u/services")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := up.requests()
			if resp.StatusCode != http.StatusOK || len(got) != 2 || replays.Load() != 1 || src.Calls() != 2 {
				t.Fatalf("status %d after %d requests, %d replays, %d exchanges; want 200 after 2, 1, 2",
					resp.StatusCode, len(got), replays.Load(), src.Calls())
			}
			if got[0].header.Get("X-Auth-Token") != "tok-1" || got[1].header.Get("X-Auth-Token") != "tok-2" {
				t.Errorf("tokens sent: %q then %q", got[0].header.Get("X-Auth-Token"), got[1].header.Get("X-Auth-Token"))
			}
			if req.Method == http.MethodPost && (!bytes.Equal(got[0].body, payload) || !bytes.Equal(got[1].body, payload)) {
				t.Errorf("bodies %q and %q, want %q twice", got[0].body, got[1].body, payload)
			}
		})
	}
}

func TestTransportBurstOf401sCausesOneRefresh(t *testing.T) {
	up := newUpstream(t, rejectTok1(http.StatusUnauthorized))
	c, src := warmCached(t)
	tr := &Transport{Cache: c, Base: up.srv.Client().Transport}
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, up.srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200 after the replay", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := src.Calls(); n != 2 {
		t.Errorf("%d exchanges, want 2: one at the start, one refresh for the whole burst", n)
	}
}

func TestTransportUnreplayableBody(t *testing.T) {
	big := randomBytes(t, 5000)
	tests := []struct {
		name   string
		max    int64
		body   []byte
		length int64 // ContentLength; -1 for chunked
	}{
		{"chunked, over MaxReplayBytes", 1024, big, -1},
		{"known length, over MaxReplayBytes", 1024, big, int64(len(big))},
		{"replay of bodies disabled", -1, []byte("small"), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, rejectTok1(http.StatusUnauthorized))
			c, src := warmCached(t)
			tr := &Transport{Cache: c, Base: up.srv.Client().Transport, MaxReplayBytes: tt.max}
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, up.srv.URL, io.MultiReader(bytes.NewReader(tt.body)))
			req.ContentLength = tt.length
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || string(answer) != "upstream answered Unauthorized" {
				t.Errorf("client got %d %q, want the upstream's 401 untouched", resp.StatusCode, answer)
			}
			got := up.requests()
			if len(got) != 1 || !bytes.Equal(got[0].body, tt.body) {
				t.Fatalf("upstream got %d requests (first body %d bytes), want 1 with all %d bytes", len(got), len(got[0].body), len(tt.body))
			}
			if c.Status().HasToken || src.Calls() != 1 {
				t.Errorf("the rejected token should be invalidated without a new exchange yet (%d exchanges)", src.Calls())
			}
		})
	}
}

func TestTransportRefreshOn(t *testing.T) {
	tests := []struct {
		name      string
		refreshOn []int
		reject    int
		want      int
		requests  int
	}{
		{"default: 401 replayed", nil, 401, 200, 2},
		{"default: 403 not replayed", nil, 403, 403, 1},
		{"[401,403]: 403 replayed", []int{401, 403}, 403, 200, 2},
		{"[401,403]: 401 replayed", []int{401, 403}, 401, 200, 2},
		{"empty: nothing replayed", []int{}, 401, 401, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, rejectTok1(tt.reject))
			c, _ := warmCached(t)
			tr := &Transport{Cache: c, Base: up.srv.Client().Transport, RefreshOn: tt.refreshOn}
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, up.srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want || len(up.requests()) != tt.requests {
				t.Errorf("status %d after %d requests, want %d after %d", resp.StatusCode, len(up.requests()), tt.want, tt.requests)
			}
		})
	}
}

// errReader fails after its content.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestTransportClosesBodyOnErrorPaths(t *testing.T) {
	up := newUpstream(t, func(string) int { return http.StatusOK })
	closedURL := func() string { s := httptest.NewTLSServer(http.NotFoundHandler()); s.Close(); return s.URL }()
	readErr := errors.New("client went away")
	tests := []struct {
		name   string
		tr     *Transport
		url    string
		reader io.Reader
		want   string
	}{
		{"no token", &Transport{Cache: cachedOf(staticSource{err: &ExchangeError{Status: 401}}), Base: up.srv.Client().Transport},
			up.srv.URL, strings.NewReader("x"), "tokensource: no access token: the token endpoint answered 401"},
		{"bad Header option", &Transport{Cache: cachedOf(staticSource{tok: Token{AccessToken: "t"}}), Base: up.srv.Client().Transport, Header: "cookie"},
			up.srv.URL, strings.NewReader("x"), `Transport.Header "cookie" is neither`},
		{"no Base", &Transport{Cache: cachedOf(staticSource{tok: Token{AccessToken: "t"}})},
			up.srv.URL, strings.NewReader("x"), "needs a Cache and a Base"},
		{"body read error", &Transport{Cache: cachedOf(staticSource{tok: Token{AccessToken: "t"}}), Base: up.srv.Client().Transport},
			up.srv.URL, errReader{readErr}, "tokensource: reading the request body: client went away"},
		{"upstream unreachable", &Transport{Cache: cachedOf(staticSource{tok: Token{AccessToken: "t"}}), Base: up.srv.Client().Transport},
			closedURL, strings.NewReader("x"), "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &trackedBody{Reader: tt.reader}
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, tt.url, body)
			_, err := tt.tr.RoundTrip(req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if !body.closed.Load() {
				t.Errorf("request body not closed")
			}
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("upstream got %d requests, want none", n)
	}
}

func TestTransportReplayWithoutNewToken(t *testing.T) {
	up := newUpstream(t, rejectTok1(http.StatusUnauthorized))
	c, src := warmCached(t)
	src.SetErr(&ExchangeError{Status: 401})
	tr := &Transport{Cache: c, Base: up.srv.Client().Transport}
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, up.srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	var nte *NoTokenError
	if resp != nil || !errors.As(err, &nte) || nte.RetryAfter() < time.Second {
		t.Fatalf("RoundTrip = %v, %v; want a *NoTokenError", resp, err)
	}
	if n := len(up.requests()); n != 1 {
		t.Errorf("upstream got %d requests, want 1", n)
	}
}
