package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// tokenPath is where the proxy's token source exchanges the API key.
const tokenPath = "/api/v1/auth/token"

// faultSetup tunes newFaultHarness.
type faultSetup struct {
	em      emulator.Options          // the emulator (its Logger is replaced)
	cached  tokensource.CachedOptions // the token cache (its Logger is replaced)
	h2      bool                      // speak HTTP/2 to the upstream, as upstream.http2 does
	noStart bool                      // do not start the background refresh
}

// faultHarness is a harness whose token cache the test tunes and whose upstream transport it
// watches.
type faultHarness struct {
	*harness
	watch *upstreamWatch // the proxy's side of base
}

func newFaultHarness(t *testing.T, fs faultSetup) *faultHarness {
	t.Helper()
	fs.em.Logger = zerolog.Nop()
	watch := &upstreamWatch{}
	h := newHarness(t, setup{em: fs.em, cached: fs.cached, h2: fs.h2, noStart: fs.noStart, level: zerolog.Disabled,
		wrap: func(base http.RoundTripper) http.RoundTripper { watch.base = base; return watch }})
	return &faultHarness{harness: h, watch: watch}
}

// closeIdle closes the idle connections of the client and of the upstream transport.
func (h *faultHarness) closeIdle() {
	h.client.CloseIdleConnections()
	h.base.CloseIdleConnections()
}

// loop runs clients goroutines that GET path in a loop until stop closes, calling check with
// each answer (code 0 and a nil header for a transport error). The returned func waits for them.
func (h *faultHarness) loop(clients int, path string, stop <-chan struct{}, check func(code int, hdr http.Header, body []byte)) func() {
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := h.client.Get(h.front.URL + path)
				if err != nil {
					check(0, nil, nil)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				check(resp.StatusCode, resp.Header, b)
			}
		})
	}
	return wg.Wait
}

// upstreamWatch is the proxy's upstream RoundTripper: it counts the upstream responses whose
// body is still open, so that a test can see a request end.
type upstreamWatch struct {
	base http.RoundTripper
	open atomic.Int64
}

func (u *upstreamWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := u.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	u.open.Add(1)
	resp.Body = &watchedBody{ReadCloser: resp.Body, open: &u.open}
	return resp, nil
}

type watchedBody struct {
	io.ReadCloser
	open *atomic.Int64
	once sync.Once
}

func (b *watchedBody) Close() error {
	b.once.Do(func() { b.open.Add(-1) })
	return b.ReadCloser.Close()
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 10 s waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTokenEndpointDownInRefreshWindow: the token endpoint fails from just after the first
// token, across the refresh point, until shortly before the token's margin; clients never
// notice, and once the old token has expired they are served with the new one. The emulator
// and the token cache share a manual clock, so the window is exact whatever the load.
func TestTokenEndpointDownInRefreshWindow(t *testing.T) {
	clk := newManualClock()
	h := newFaultHarness(t, faultSetup{
		em:     emulator.Options{TokenLifetime: 200 * time.Second, Now: clk.Now}, // refresh at 150 to 170 s, margin 10 s
		cached: tokensource.CachedOptions{Clock: clk},
	})
	path := "/api/v3/" + h.em.UserID() + "/services"
	h.get(path, http.StatusOK)
	h.em.SetFault(tokenPath, emulator.Fault{Status: http.StatusServiceUnavailable})
	st := h.tokens.Status()
	life := st.Expiry.Sub(st.LastRefresh)
	refreshAt, staleAt := st.LastRefresh.Add(life*85/100), st.Expiry.Add(-10*time.Second)
	// retry moves the clock to the end of the backoff, which must come before the margin.
	retry := func() {
		next := h.tokens.Status().NextAttempt
		if !next.Before(staleAt) {
			t.Fatalf("next attempt at %v, not before the margin at %v", next, staleAt)
		}
		clk.Set(next)
	}
	var ok, failed atomic.Int64
	clients := func() (halt func()) { // 4 clients until halt, which waits for their last answers
		stop := make(chan struct{})
		wait := h.loop(4, path, stop, func(code int, _ http.Header, b []byte) {
			if code != http.StatusOK {
				if failed.Add(1) <= 3 {
					t.Errorf("a client got %d: %s", code, b)
				}
				return
			}
			ok.Add(1)
		})
		return sync.OnceFunc(func() { close(stop); wait() })
	}
	halt := clients()
	defer func() { halt() }() // also when the test fails early
	// served waits for 20 more answers, so that clients see every phase.
	served := func(when string) {
		n := ok.Load() + failed.Load()
		waitFor(t, "clients answered "+when, func() bool { return ok.Load()+failed.Load() >= n+20 })
	}
	served("before the refresh point")
	clk.Set(refreshAt)
	waitFor(t, "a failed refresh at the refresh point", func() bool { return h.tokens.Status().Failures >= 1 })
	served("after the first failed refresh")
	retry()
	waitFor(t, "a second failed refresh after the backoff", func() bool { return h.tokens.Status().Failures >= 2 })
	served("after the second failed refresh")
	retry()
	waitFor(t, "a third failed refresh before the margin", func() bool { return h.tokens.Status().Failures >= 3 })
	served("shortly before the margin")
	h.em.ClearFaults()
	retry() // the endpoint is back before the old token's margin
	waitFor(t, "a new token", func() bool { return h.tokens.Status().Fingerprint != st.Fingerprint })
	halt() // no request in flight with the old token when the clock passes its expiry
	clk.Set(st.Expiry.Add(time.Second))
	halt = clients()
	served("after the old token expired")
	halt()
	c := h.em.Counters()
	t.Logf("%d requests across the %v between the refresh point and the margin", ok.Load(), staleAt.Sub(refreshAt))
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Errorf("%d client errors, %d successes; want none and some", failed.Load(), ok.Load())
	}
	if c.Unauthorized != 0 || c.TokenExchanges != 2 {
		t.Errorf("upstream 401s = %d, token exchanges = %d; want 0 and 2", c.Unauthorized, c.TokenExchanges)
	}
}

// TestTokenEndpointDownPastExpiry: clients get a 503 with Retry-After while no token can be
// had, the token endpoint is asked once per backoff however hard clients push, and the service
// comes back by itself. On a manual clock: while it stands still, clients push as hard as they
// can, and exactly one more token request may follow each move to the end of the backoff.
func TestTokenEndpointDownPastExpiry(t *testing.T) {
	const backoffMax = 4 * time.Second // the bound of the third pause: 1, 2, 4 s
	clk := newManualClock()
	h := newFaultHarness(t, faultSetup{
		em:     emulator.Options{TokenLifetime: 100 * time.Second, Now: clk.Now},
		cached: tokensource.CachedOptions{Clock: clk},
	})
	path := "/api/v3/" + h.em.UserID() + "/services"
	h.get(path, http.StatusOK)
	h.em.ResetCounters()
	h.em.SetFault(tokenPath, emulator.Fault{Status: http.StatusServiceUnavailable})
	clk.Set(h.tokens.Status().Expiry.Add(time.Second)) // the token has expired
	var unavailable, other atomic.Int64
	stop := make(chan struct{})
	wait := h.loop(4, path, stop, func(code int, hdr http.Header, b []byte) {
		switch code {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			if unavailable.Add(1) <= 3 {
				check503(t, hdr, b, backoffMax)
			}
		default:
			if other.Add(1) <= 3 {
				t.Errorf("a client got %d: %s", code, b)
			}
		}
	})
	halt := sync.OnceFunc(func() { close(stop); wait() }) // also when the test fails early
	defer halt()
	for attempt := int64(1); attempt <= 3; attempt++ {
		if attempt > 1 {
			clk.Set(h.tokens.Status().NextAttempt)
		}
		n := unavailable.Load()
		waitFor(t, "clients to get 503s", func() bool {
			return unavailable.Load() >= n+50 && h.tokens.Status().Failures >= attempt
		})
		if got := h.em.Counters().TokenRequests; got != attempt {
			t.Fatalf("%d token requests after %d backoffs of clients pushing; want %d", got, attempt-1, attempt)
		}
	}
	halt()
	h.em.ClearFaults()
	next := h.tokens.Status().NextAttempt
	waitFor(t, "the refresh loop to wait for the backoff", func() bool { return clk.hasTimer(next) })
	clk.Set(next)
	waitFor(t, "a usable token without any request", func() bool { ok, _ := h.tokens.Status().Ready(clk.Now()); return ok })
	h.get(path, http.StatusOK)
	if c := h.em.Counters(); c.TokenRequests != 4 || c.TokenExchanges != 1 || c.Unauthorized != 0 || other.Load() != 0 {
		t.Errorf("after recovery: %d token requests, %d exchanges, %d upstream 401s, %d other statuses; want 4, 1, 0, 0",
			c.TokenRequests, c.TokenExchanges, c.Unauthorized, other.Load())
	}
}

// check503 checks a 503 for want of a token: the JSON error naming the cause, and a
// Retry-After of whole seconds within the backoff. It may run on any goroutine.
func check503(t *testing.T, hdr http.Header, b []byte, backoffMax time.Duration) {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Code != http.StatusServiceUnavailable ||
		!strings.Contains(e.Message, "the DBaaS token endpoint") || !strings.Contains(e.Message, "answered 503") {
		t.Errorf("503 body %q, want the JSON error naming the token endpoint's 503", b)
	}
	if secs, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || secs < 1 || secs > 1+int(backoffMax/time.Second) {
		t.Errorf("Retry-After %q, want 1 to %d seconds", hdr.Get("Retry-After"), 1+int(backoffMax/time.Second))
	}
}

// TestSlowTokenEndpointAtColdStart: clients that give up while the first exchange hangs get
// their answer at their own deadline; the exchange goes on, lands once and serves later requests.
func TestSlowTokenEndpointAtColdStart(t *testing.T) {
	h := newFaultHarness(t, faultSetup{noStart: true})
	h.em.SetFault(tokenPath, emulator.Fault{Latency: 5 * time.Second})
	path := "/api/v3/" + h.em.UserID() + "/services"
	const clients = 100
	var gaveUp atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.front.URL+path, nil)
			resp, err := h.client.Do(req)
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				gaveUp.Add(1)
			case err != nil:
				t.Errorf("client error %v, want its own deadline", err)
			default:
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout {
					gaveUp.Add(1)
				} else {
					t.Errorf("status %d, want 503, 504 or the client's own deadline", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	if c := h.em.Counters(); gaveUp.Load() != clients || c.TokenExchanges != 0 || c.TokenRequests != 1 {
		t.Errorf("%d of %d clients gave up before the exchange landed; %d token requests, %d exchanges done; want all, 1, 0",
			gaveUp.Load(), clients, c.TokenRequests, c.TokenExchanges)
	}
	waitFor(t, "the exchange to land", func() bool { return h.tokens.Status().HasToken })
	for range 20 {
		h.get(path, http.StatusOK)
	}
	if c := h.em.Counters(); c.TokenRequests != 1 || c.TokenExchanges != 1 {
		t.Errorf("%d token requests, %d exchanges; want 1 and 1", c.TokenRequests, c.TokenExchanges)
	}
}

// TestUnusableTokenIsA503: a token that arrives with less than its margin left (a lifetime
// shorter than the margin, or a local clock ahead of the token endpoint's) is never sent; the
// client gets a 503 that says why, and the endpoint is not asked again before the backoff.
func TestUnusableTokenIsA503(t *testing.T) {
	tests := []struct {
		name   string
		em     emulator.Options
		cached tokensource.CachedOptions
	}{
		{"local clock two hours ahead", emulator.Options{Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }},
			tokensource.CachedOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFaultHarness(t, faultSetup{em: tt.em, cached: tt.cached, noStart: true})
			for range 3 {
				code, hdr, b := h.do(http.MethodGet, "/api/v3/me/services", nil, nil)
				if _, msg := jsonError(t, b); code != http.StatusServiceUnavailable || !strings.Contains(msg, "is the clock right?") {
					t.Errorf("status %d, message %q; want 503 asking about the clock", code, msg)
				}
				if hdr.Get("Retry-After") == "" {
					t.Error("no Retry-After")
				}
			}
			if c := h.em.Counters(); c.Requests != 0 || c.TokenRequests != 1 {
				t.Errorf("%d requests forwarded, %d token requests; want 0 and 1", c.Requests, c.TokenRequests)
			}
		})
	}
}
