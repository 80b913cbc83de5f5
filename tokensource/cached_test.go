package tokensource

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// exactOptions makes the schedule exact: no jitter, pinned clock.
func exactOptions(clock *fakeClock) CachedOptions {
	return CachedOptions{jitter: -1, Clock: clock, Logger: zerolog.Nop()}
}

// callMany calls c.Token from n goroutines at once and returns the tokens and errors.
func callMany(ctx context.Context, c *Cached, n int) ([]Token, []error) {
	toks, errs := make([]Token, n), make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			toks[i], errs[i] = c.Token(ctx)
		})
	}
	close(start)
	wg.Wait()
	return toks, errs
}

func TestCachedOneExchangeForManyWaiters(t *testing.T) {
	t.Run("cold start, real token endpoint", func(t *testing.T) {
		var exchanges atomic.Int64
		release := make(chan struct{})
		jwt := makeJWT(map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
		srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
			exchanges.Add(1)
			<-release // until the callers have piled up
			_, _ = w.Write([]byte(`{"access_token":"` + jwt + `","user_id":"u"}`))
		})
		opts := testExchangeOptions(srv, zerolog.Nop())
		opts.Now = nil
		c := NewCached(NewExchange(opts), CachedOptions{Logger: zerolog.Nop()})
		defer c.Close()
		piled := make(chan bool, 1)
		go func() { piled <- waitUntil(func() bool { return c.waiting.Load() == 200 }); close(release) }()
		toks, errs := callMany(ctxTimeout(t), c, 200)
		if !<-piled {
			t.Error("the 200 callers never all waited for the exchange")
		}
		for i := range toks {
			if errs[i] != nil || toks[i].AccessToken != jwt {
				t.Fatalf("caller %d: %v, %v", i, toks[i], errs[i])
			}
		}
		if n := exchanges.Load(); n != 1 {
			t.Errorf("%d exchanges, want 1", n)
		}
	})
	t.Run("at expiry", func(t *testing.T) {
		clock := newFakeClock()
		src := newFakeSource(clock.Now, time.Hour)
		c := NewCached(src, exactOptions(clock))
		defer c.Close()
		if _, err := c.Token(ctxTimeout(t)); err != nil {
			t.Fatal(err)
		}
		gate := make(chan struct{})
		src.SetGate(gate)
		clock.Advance(2 * time.Hour)
		piled := make(chan bool, 1)
		go func() {
			<-src.started // the first exchange
			<-src.started // the one at expiry, held at the gate
			piled <- waitUntil(func() bool { return c.waiting.Load() == 200 })
			close(gate)
		}()
		toks, errs := callMany(ctxTimeout(t), c, 200)
		if !<-piled {
			t.Error("the 200 callers never all waited for the exchange")
		}
		for i := range toks {
			if errs[i] != nil || toks[i].AccessToken != "tok-2" {
				t.Fatalf("caller %d: %v, %v; want tok-2", i, toks[i], errs[i])
			}
		}
		if n := src.Calls(); n != 2 {
			t.Errorf("%d exchanges, want 2", n)
		}
	})
}

func TestCachedWaiterCancelDoesNotCancelFetch(t *testing.T) {
	arrived, release := make(chan struct{}, 10), make(chan struct{})
	var exchanges atomic.Int64
	jwt := makeJWT(map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
	srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
		exchanges.Add(1)
		arrived <- struct{}{}
		<-release
		_, _ = w.Write([]byte(`{"access_token":"` + jwt + `","user_id":"u"}`))
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	opts := testExchangeOptions(srv, zerolog.Nop())
	opts.Now = nil
	c := NewCached(NewExchange(opts), CachedOptions{Logger: zerolog.Nop()})
	defer c.Close()

	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { _, err := c.Token(ctxA); errA <- err }()
	<-arrived
	type result struct {
		tok Token
		err error
	}
	resB := make(chan result, 1)
	go func() { tok, err := c.Token(ctxTimeout(t)); resB <- result{tok, err} }()
	cancelA()
	err := <-errA
	var nte *NoTokenError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &nte) {
		t.Fatalf("waiter A: %v, want a *NoTokenError wrapping context.Canceled", err)
	}
	unblock()
	b := <-resB
	if b.err != nil || b.tok.AccessToken != jwt {
		t.Fatalf("waiter B: %v, %v; want the token", b.tok, b.err)
	}
	if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != jwt {
		t.Fatalf("after: %v, %v; want the cached token", tok, err)
	}
	if n := exchanges.Load(); n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}
}

func TestCachedExpiryBoundaries(t *testing.T) {
	tests := []struct {
		name   string
		life   time.Duration
		margin time.Duration // the margin in force
	}{
		{"3600 s token, margin 10 s", time.Hour, 10 * time.Second},
		{"2 s token, margin 0.2 s", 2 * time.Second, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		offsets := []struct {
			name  string
			left  time.Duration // time left on the token
			fresh bool          // a new exchange is expected
		}{
			{"margin+1ns left: usable", tt.margin + 1, false},
			{"margin left: not usable", tt.margin, true},
			{"expired: not usable", -time.Second, true},
		}
		for _, o := range offsets {
			t.Run(tt.name+"/"+o.name, func(t *testing.T) {
				clock := newFakeClock()
				src := newFakeSource(clock.Now, tt.life)
				c := NewCached(src, exactOptions(clock))
				defer c.Close()
				first, err := c.Token(ctxTimeout(t))
				if err != nil {
					t.Fatal(err)
				}
				clock.Set(first.Expiry.Add(-o.left))
				tok, err := c.Token(ctxTimeout(t))
				if err != nil {
					t.Fatal(err)
				}
				want := "tok-1" // past the refresh point: a background refresh starts, tok-1 is served
				if o.fresh {
					want = "tok-2"
				}
				if tok.AccessToken != want {
					t.Errorf("got %s, want %s", tok.AccessToken, want)
				}
				eventually(t, "the exchange", func() bool { return c.Status().Exchanges == 2 })
				if ready, why := c.Status().Ready(clock.Now()); !ready {
					t.Errorf("Ready = false (%s) with a fresh token", why)
				}
			})
		}
	}
}

func TestCachedRefreshesAheadInBackground(t *testing.T) {
	for _, life := range []time.Duration{time.Hour, 2 * time.Second} {
		t.Run(life.String(), func(t *testing.T) {
			clock := newFakeClock()
			src := newFakeSource(clock.Now, life)
			c := NewCached(src, exactOptions(clock))
			defer c.Close()
			c.Start()
			c.Start() // idempotent
			due := time.Duration(0.8 * float64(life))
			for round := 1; round <= 3; round++ {
				call := clock.waitAfter(t, round)
				if call.d != due {
					t.Fatalf("round %d: the loop sleeps %v, want %v", round, call.d, due)
				}
				if n := src.Calls(); n != round {
					t.Fatalf("round %d: %d exchanges, want %d", round, n, round)
				}
				clock.Advance(due - 1)
				if tok, err := c.Token(ctxTimeout(t)); err != nil || src.Calls() != round {
					t.Fatalf("before the refresh point: %v, %v, %d exchanges", tok, err, src.Calls())
				}
				clock.Advance(1)
				clock.fire(call)
				eventually(t, "the background refresh", func() bool { return c.Status().Exchanges == int64(round+1) })
			}
		})
	}
}

func TestCachedJitterStaysInBounds(t *testing.T) {
	clock := newFakeClock()
	for _, life := range []time.Duration{time.Hour, 2 * time.Second} {
		src := newFakeSource(clock.Now, life)
		lo, hi := time.Duration(0.75*float64(life)), time.Duration(0.85*float64(life))
		for i := range 50 {
			c := NewCached(src, CachedOptions{Clock: clock, Logger: zerolog.Nop()})
			if _, err := c.Token(ctxTimeout(t)); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			e := c.cur
			c.mu.Unlock()
			if d := e.refreshAt.Sub(clock.Now()); d < lo || d > hi || e.refreshAt.After(e.staleAt) {
				t.Fatalf("life %v draw %d: refresh after %v, want within [%v, %v] and before the margin", life, i, d, lo, hi)
			}
			c.Close()
		}
	}
}

func TestCachedRefreshWindowKicksWithoutWaiting(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, 100*time.Second)
	c := NewCached(src, exactOptions(clock)) // refresh at 80 s, margin 10 s
	defer c.Close()
	if _, err := c.Token(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
	<-src.started
	gate := make(chan struct{})
	src.SetGate(gate)
	clock.Advance(85 * time.Second)
	for range 50 { // the refresh is held at the gate: callers must not wait for it
		if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != "tok-1" {
			t.Fatalf("in the refresh window: %v, %v; want tok-1 at once", tok, err)
		}
	}
	<-src.started
	close(gate)
	eventually(t, "the kicked refresh", func() bool { return c.Status().Exchanges == 2 })
	if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != "tok-2" || src.Calls() != 2 {
		t.Fatalf("after the refresh: %v, %v after %d exchanges; want tok-2 after 2", tok, err, src.Calls())
	}
}

func TestCachedSleptPastTimer(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, time.Hour)
	c := NewCached(src, exactOptions(clock))
	defer c.Close()
	c.Start()
	clock.waitAfter(t, 1)
	clock.Advance(3 * time.Hour) // the laptop slept; the timer has not fired yet
	tok, err := c.Token(ctxTimeout(t))
	if err != nil || tok.AccessToken != "tok-2" {
		t.Fatalf("after sleeping: %v, %v; want a fresh tok-2", tok, err)
	}
}
