package tokensource

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// hangGuard bounds a call that must return promptly; it guards against hangs and is no timing
// assertion.
const hangGuard = 5 * time.Second

// returnsWithin runs f and reports whether it returned within hangGuard.
func returnsWithin(f func()) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(hangGuard):
		return false
	}
}

// TestResetThenCloseWithHungEndpoint: a key rotation while the token endpoint never answers,
// then shutdown. Reset cancels the exchange it replaces, and Close cancels the new one, so
// Close returns at once instead of waiting out the 30 s exchange timeout; goleak (TestMain)
// sees no exchange left behind.
func TestResetThenCloseWithHungEndpoint(t *testing.T) {
	arrived := make(chan struct{}, 10)
	var ended atomic.Int64
	srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // hangs until the client gives up
		ended.Add(1)
	})
	opts := testExchangeOptions(srv, zerolog.Nop())
	opts.Now = nil
	c := NewCached(NewExchange(opts), CachedOptions{Logger: zerolog.Nop()})
	c.Start()
	<-arrived
	c.Reset()
	<-arrived
	eventually(t, "Reset to cancel the exchange it replaced", func() bool { return ended.Load() == 1 })
	if !returnsWithin(c.Close) {
		t.Fatalf("Close did not return within %v after Reset with a hung token endpoint", hangGuard)
	}
	eventually(t, "both hung exchanges to end at the server", func() bool { return ended.Load() == 2 })
	if st := c.Status(); st.Exchanges != 2 {
		t.Errorf("%d exchanges ended, want 2: the one Reset replaced and the one Close cancelled", st.Exchanges)
	}
}

// deafSource never answers and ignores its context, until released.
type deafSource struct {
	started chan struct{}
	release chan struct{}
}

func (s deafSource) Token(context.Context) (Token, error) {
	s.started <- struct{}{}
	<-s.release
	return Token{}, context.Canceled
}

// TestCloseIsBoundedWhateverTheSource: even a Source that ignores cancellation holds Close
// only for its short grace.
func TestCloseIsBoundedWhateverTheSource(t *testing.T) {
	src := deafSource{started: make(chan struct{}, 2), release: make(chan struct{})}
	c := NewCached(src, CachedOptions{Logger: zerolog.Nop()})
	c.Start()
	<-src.started
	c.Reset()
	<-src.started
	ok := returnsWithin(c.Close)
	close(src.release) // let the deaf exchanges end, for goleak
	eventually(t, "the deaf exchanges to end", func() bool { return c.Status().Exchanges == 2 })
	if !ok {
		t.Fatalf("Close did not return within %v with a Source that ignores cancellation", hangGuard)
	}
}

// TestReadyAfterReset: after a key change, readiness says that it waits for a token with the
// new key, not that the upstream rejected the last token.
func TestReadyAfterReset(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, time.Hour)
	c := NewCached(src, exactOptions(clock))
	defer c.Close()
	if _, err := c.Token(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
	<-src.started
	gate := make(chan struct{})
	src.SetGate(gate)
	c.Reset()
	<-src.started
	ready, why := c.Status().Ready(clock.Now())
	if ready || why != "no token: the API key changed; waiting for a token with the new key" {
		t.Errorf("during the exchange after Reset: Ready = %v, %q", ready, why)
	}
	close(gate)
	eventually(t, "the token with the new key", func() bool { return c.Status().HasToken })
	tok, err := c.Token(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	c.Invalidate(tok) // a later rejection reads as one again
	if _, why := c.Status().Ready(clock.Now()); !strings.Contains(why, "the upstream rejected the last one") {
		t.Errorf("after an invalidation: %q", why)
	}
}

// TestBackoffDoubles: the bound of the random pause doubles with each failure in a row, from
// 1 s up to 1 min; draws span the whole range from 1 s to that bound.
func TestBackoffDoubles(t *testing.T) {
	c := NewCached(newFakeSource(time.Now, time.Hour), CachedOptions{})
	defer c.Close()
	tests := []struct {
		failures int
		max      time.Duration // the largest draw
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second},
		{5, 16 * time.Second}, {6, 32 * time.Second}, {7, time.Minute}, {60, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.max.String(), func(t *testing.T) {
			c.failures = tt.failures
			c.randN = func(n time.Duration) time.Duration { return n - 1 } // the largest draw
			if got := c.pause(errors.New("down")); got != tt.max {
				t.Errorf("after %d failures the largest pause is %v, want %v", tt.failures, got, tt.max)
			}
			c.randN = func(time.Duration) time.Duration { return 0 } // the smallest draw
			if got := c.pause(errors.New("down")); got != time.Second {
				t.Errorf("after %d failures the smallest pause is %v, want 1s", tt.failures, got)
			}
		})
	}
}

// TestDefaultClockHasNoMonotonicReading: without Now options, the clocks of Cached and
// Exchange read the wall clock only, so that a laptop's sleep counts against a token's life.
func TestDefaultClockHasNoMonotonicReading(t *testing.T) {
	c := NewCached(newFakeSource(time.Now, time.Hour), CachedOptions{})
	defer c.Close()
	tests := []struct {
		name string
		now  func() time.Time
	}{
		{"wallClock", wallClock},
		{"Cached with nil Clock", c.opts.Clock.Now},
		{"Exchange with nil Now", NewExchange(ExchangeOptions{}).opts.Now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now()
			if now != now.Round(0) || strings.Contains(now.String(), "m=") {
				t.Errorf("the clock reads %s, with a monotonic reading", now)
			}
			if d := time.Since(now); d < -time.Minute || d > time.Minute {
				t.Errorf("the clock reads %s, not now", now)
			}
		})
	}
}
