package tokensource

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
)

// emuRig is the emulator behind a Transport over a Cached over an Exchange, the whole chain
// of dbaas-proxy's upstream side, on one fake clock: the background loop's timers fire only
// when the test fires them, as after a laptop's sleep, when the wall clock has jumped and the
// monotonic timers have not run.
type emuRig struct {
	em     *emulator.Server
	clock  *fakeClock
	cached *Cached
	client *http.Client
}

// newEmuRig starts the rig. The emulator's clock runs skew behind the local one (a local
// clock that is ahead); its tokens live life.
func newEmuRig(t *testing.T, life, skew time.Duration, opts CachedOptions) *emuRig {
	t.Helper()
	clock := newFakeClock()
	em, err := emulator.Start(emulator.Options{
		TokenLifetime: life, Logger: zerolog.Nop(),
		Now: func() time.Time { return clock.Now().Add(-skew) },
	})
	if err != nil {
		t.Fatalf("emulator.Start: %v", err)
	}
	t.Cleanup(func() { em.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(em.CAPEM())
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(base.CloseIdleConnections)
	opts.Clock, opts.Logger = clock, zerolog.Nop()
	c := NewCached(NewExchange(ExchangeOptions{
		URL: em.URL() + "/api/v1/auth/token", Client: &http.Client{Transport: base}, Now: clock.Now,
		Key: func() (string, error) { return em.APIKey(), nil }, Logger: zerolog.Nop(),
	}), opts)
	t.Cleanup(c.Close)
	return &emuRig{em: em, clock: clock, cached: c, client: &http.Client{Transport: &Transport{Cache: c, Base: base}}}
}

// get sends one API call through the Transport and returns its status.
func (r *emuRig) get() (int, error) {
	resp, err := r.client.Get(r.em.URL() + "/api/v3/" + r.em.UserID() + "/services")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// getAll sends n API calls at once; each must succeed.
func (r *emuRig) getAll(t *testing.T, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if code, err := r.get(); err != nil || code != http.StatusOK {
				t.Errorf("GET: status %d, error %v; want 200", code, err)
			}
		})
	}
	wg.Wait()
}

// TestFaultClockJumps: after the wall clock jumps (a laptop wakes up, NTP steps the clock), no
// request carries a token the upstream considers expired; callers wait for one fresh token.
func TestFaultClockJumps(t *testing.T) {
	const life = time.Minute // refresh at 48 s; handed out until 54 s (margin 6 s)
	tests := []struct {
		name      string
		jump      time.Duration
		times     int
		exchanges int64 // token exchanges in all, the first included
	}{
		{"slept for two hours", 2 * time.Hour, 1, 2},
		{"slept three times", 2 * time.Hour, 3, 4},
		{"slept past the margin, not past expiry", 55 * time.Second, 1, 2},
		{"slept into the refresh window", 50 * time.Second, 1, 2},
		{"slept a little", 10 * time.Second, 1, 1},
		{"clock stepped back an hour", -time.Hour, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newEmuRig(t, life, 0, CachedOptions{jitter: -1})
			r.cached.Start()
			if call := r.clock.waitAfter(t, 1); call.d != 48*time.Second {
				t.Fatalf("after the first token the loop sleeps %v, want 48s", call.d)
			}
			r.getAll(t, 20)
			for range tt.times {
				r.clock.Advance(tt.jump) // the loop's timer does not fire
				r.getAll(t, 20)
			}
			eventually(t, "the refreshes", func() bool { return r.em.Counters().TokenExchanges >= tt.exchanges })
			if c := r.em.Counters(); c.Unauthorized != 0 || c.TokenExchanges != tt.exchanges {
				t.Errorf("upstream 401s = %d, token exchanges = %d; want 0 and %d", c.Unauthorized, c.TokenExchanges, tt.exchanges)
			}
		})
	}
}

// TestFaultTokenShorterThanMargin: a token that arrives with less than its margin left is never
// sent, and the token endpoint is asked again only after the backoff.
func TestFaultTokenShorterThanMargin(t *testing.T) {
	tests := []struct {
		name string
		life time.Duration
		skew time.Duration
		opts CachedOptions
	}{
		{"lifetime 1h, local clock 2h ahead", time.Hour, 2 * time.Hour, CachedOptions{}},
		{"lifetime 1h, local clock 1h ahead", time.Hour, time.Hour, CachedOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newEmuRig(t, tt.life, tt.skew, tt.opts)
			for attempt := int64(1); attempt <= 2; attempt++ {
				for range 3 {
					_, err := r.get()
					if nte := (*NoTokenError)(nil); !errors.As(err, &nte) || !strings.Contains(err.Error(), "is the clock right?") {
						t.Fatalf("GET: %v, want a *NoTokenError asking about the clock", err)
					}
				}
				if c := r.em.Counters(); c.Requests != 0 || c.TokenRequests != attempt {
					t.Fatalf("attempt %d: %d API requests, %d token requests; want 0 and %d", attempt, c.Requests, c.TokenRequests, attempt)
				}
				r.clock.Advance(time.Second) // the first backoff is 1 s
			}
		})
	}
}
