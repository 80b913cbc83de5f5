package tokensource

import (
	"bytes"
	"context"
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

// TestInvalidateWakesTheLoop: after a rejection drops the token, the background loop fetches
// the next one at once, not at the old token's refresh time (an hour-long token would leave
// readiness off for most of an hour when no request comes to ask for one).
func TestInvalidateWakesTheLoop(t *testing.T) {
	src := newFakeSource(time.Now, time.Hour)
	c := NewCached(src, CachedOptions{Logger: zerolog.Nop()})
	defer c.Close()
	c.Start()
	eventually(t, "the first token", func() bool { return c.Status().HasToken })
	tok, err := c.Token(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	c.Invalidate(tok)
	eventually(t, "a new token without any caller", func() bool {
		st := c.Status()
		return st.HasToken && st.Fingerprint != tok.Fingerprint()
	})
	if n := src.Calls(); n != 2 {
		t.Errorf("%d exchanges, want 2", n)
	}
}

// TestRefreshStartsAtMostOneExchange: an operator's refresh, however often it is asked for,
// runs one exchange at a time, respects the backoff, and keeps the current token meanwhile.
func TestRefreshStartsAtMostOneExchange(t *testing.T) {
	src := newFakeSource(time.Now, time.Hour)
	c := NewCached(src, CachedOptions{Logger: zerolog.Nop()})
	defer c.Close()
	first, err := c.Token(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	src.mu.Lock()
	src.gate = gate
	src.mu.Unlock()
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if err := c.Refresh(); err != nil {
				t.Errorf("Refresh while one runs: %v, want nil", err)
			}
		})
	}
	wg.Wait()
	eventually(t, "the refresh's exchange", func() bool { return src.Calls() >= 2 })
	if n := src.Calls(); n != 2 {
		t.Errorf("100 refreshes: %d exchanges in all, want 2 (the first token and one refresh)", n)
	}
	if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != first.AccessToken {
		t.Errorf("during the refresh Token = %v, %v; want the current token", tok, err)
	}
	close(gate)
	eventually(t, "the refreshed token", func() bool { return c.Status().Fingerprint != first.Fingerprint() })
	src.mu.Lock()
	src.err = errors.New("endpoint down")
	src.mu.Unlock()
	if err := c.Refresh(); err != nil {
		t.Fatalf("Refresh = %v; want an exchange started", err)
	}
	eventually(t, "the failure", func() bool { return c.Status().Failures == 1 })
	err = c.Refresh()
	var rl *RateLimitedError
	if !errors.As(err, &rl) || !strings.Contains(rl.Reason, "backing off") || rl.RetryAfter < time.Second {
		t.Errorf("Refresh while backing off = %v; want a *RateLimitedError about the backoff", err)
	}
	if n := src.Calls(); n != 3 {
		t.Errorf("%d exchanges, want 3", n)
	}
}

// TestCloseCancelsTheExchangeInFlight: shutting down does not wait out a hung token endpoint.
func TestCloseCancelsTheExchangeInFlight(t *testing.T) {
	src := newFakeSource(time.Now, time.Hour)
	src.gate = make(chan struct{}) // never opens: the endpoint hangs
	c := NewCached(src, CachedOptions{Logger: zerolog.Nop()})
	c.Start()
	<-src.started
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the hung exchange")
	}
}

// TestExchangeDoesNotFollowRedirects: a redirecting token endpoint gets no second request,
// so the api_key header goes nowhere else; the 3xx is an *ExchangeError.
func TestExchangeDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	})
	_, err := newTestExchange(srv, zerolog.Nop()).Token(ctxTimeout(t))
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Status != http.StatusFound {
		t.Fatalf("err = %v, want an *ExchangeError with status 302", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

// TestReplayMemoryBudget: once the bodies kept for replays fill the replay memory budget, further
// bodies stream through unreplayed; the budget is given back after each request.
func TestReplayMemoryBudget(t *testing.T) {
	body := randomBytes(t, 100)
	tests := []struct {
		name       string
		budget     int64
		wantStatus int // the client's status after the upstream rejected tok-1
	}{
		{"within the budget: replayed", 1000, http.StatusOK},
		{"over the budget: streamed, not replayed", 50, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, rejectTok1(http.StatusUnauthorized))
			c, _ := warmCached(t)
			tr := &Transport{Cache: c, Base: up.srv.Client().Transport, replayBudget: tt.budget}
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, up.srv.URL, io.NopCloser(bytes.NewReader(body)))
			req.ContentLength = int64(len(body))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			for i, s := range up.requests() {
				if !bytes.Equal(s.body, body) {
					t.Errorf("request %d carried %d bytes, want all %d", i, len(s.body), len(body))
				}
			}
			if n := tr.replayMemory.Load(); n != 0 {
				t.Errorf("%d bytes of the budget still taken after the request", n)
			}
		})
	}
}

// TestTokenTakenAfterTheBody: a slow upload is read before the token is chosen, so the token
// is not aged by the upload.
func TestTokenTakenAfterTheBody(t *testing.T) {
	up := newUpstream(t, func(string) int { return http.StatusOK })
	var order []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	src := sourceFunc(func(context.Context) (Token, error) {
		note("token")
		return Token{AccessToken: "t", Expiry: time.Now().Add(time.Hour)}, nil
	})
	tr := &Transport{Cache: cachedOf(src), Base: up.srv.Client().Transport}
	body := readerFunc(func(p []byte) (int, error) { note("body"); return 0, io.EOF })
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, up.srv.URL, io.NopCloser(body))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(order) < 2 || order[0] != "body" || order[len(order)-1] != "token" {
		t.Errorf("order %v, want the body read before the token is taken", order)
	}
}

type sourceFunc func(context.Context) (Token, error)

func (f sourceFunc) Token(ctx context.Context) (Token, error) { return f(ctx) }

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
