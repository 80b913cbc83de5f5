package tokensource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCachedBackoffSchedule(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, time.Hour)
	src.SetErr(&ExchangeError{Status: 503})
	var hooked atomic.Int64
	opts := exactOptions(clock)
	opts.OnExchange = func(tok Token, err error) { hooked.Add(1) }
	c := NewCached(src, opts)
	defer c.Close()
	c.Start()
	for n := 1; n <= 9; n++ {
		call := clock.waitAfter(t, n)
		st := c.Status()
		if src.Calls() != n || st.Failures != int64(n) || st.Exchanges != int64(n) {
			t.Fatalf("failure %d: %d exchanges, status %+v", n, src.Calls(), st)
		}
		bound := min(time.Second<<(n-1), time.Minute)
		wait := st.NextAttempt.Sub(clock.Now())
		if wait < time.Second || wait > bound || call.d != wait {
			t.Fatalf("failure %d: backing off %v (loop sleeps %v), want within [1s, %v]", n, wait, call.d, bound)
		}
		for range 5 { // callers fail fast and trigger nothing
			_, err := c.Token(ctxTimeout(t))
			var nte *NoTokenError
			var xe *ExchangeError
			if !errors.As(err, &nte) || !errors.As(err, &xe) || xe.Status != 503 {
				t.Fatalf("failure %d: Token error %v, want a *NoTokenError carrying the 503", n, err)
			}
			if got, want := nte.RetryAfter(), (wait + time.Second - 1).Truncate(time.Second); got != want {
				t.Errorf("failure %d: RetryAfter %v, want %v", n, got, want)
			}
		}
		if src.Calls() != n {
			t.Fatalf("failure %d: callers caused exchanges while backing off", n)
		}
		if n == 9 {
			src.SetErr(nil) // the endpoint recovers: the 10th attempt succeeds
		}
		clock.Advance(wait)
		clock.fire(call)
	}
	eventually(t, "a successful exchange", func() bool { return c.Status().HasToken })
	st := c.Status()
	if st.LastError != nil || !st.NextAttempt.IsZero() || st.Failures != 9 || st.Exchanges != 10 {
		t.Errorf("after success: %+v", st)
	}
	eventually(t, "the hook", func() bool { return hooked.Load() == 10 })
	call := clock.waitAfter(t, 10)
	if call.d != 48*time.Minute {
		t.Errorf("after success the loop sleeps %v, want 48m: the backoff must reset", call.d)
	}
}

func TestCachedServesValidTokenDuringFailures(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, 100*time.Second) // refresh at 80 s, margin 10 s
	c := NewCached(src, exactOptions(clock))
	defer c.Close()
	c.Start()
	call := clock.waitAfter(t, 1)
	src.SetErr(errors.New("tokensource: token exchange: connection refused"))
	clock.Advance(80 * time.Second)
	clock.fire(call)
	for n := 2; n <= 4; n++ {
		call = clock.waitAfter(t, n)
		if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != "tok-1" {
			t.Fatalf("during failure %d: %v, %v; want tok-1", n-1, tok, err)
		}
		clock.Advance(call.d)
		clock.fire(call)
	}
	clock.waitAfter(t, 5)
	clock.Set(t0.Add(90 * time.Second)) // the margin is reached while backing off
	_, err := c.Token(ctxTimeout(t))
	var nte *NoTokenError
	if !errors.As(err, &nte) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("past the margin while backing off: %v, want a *NoTokenError", err)
	}
	ready, why := c.Status().Ready(clock.Now())
	if ready || !strings.HasPrefix(why, "token expires in 10s, within its 10s margin; last refresh failed: token exchange: connection refused") {
		t.Errorf("Ready = %v, %q", ready, why)
	}
}

func TestCachedRejectedKeyBacksOffUntilReset(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, time.Hour)
	src.SetErr(&ExchangeError{Status: 401, Body: `{"code":401}`})
	c := NewCached(src, exactOptions(clock))
	defer c.Close()
	for i := range 3 {
		_, err := c.Token(ctxTimeout(t))
		var xe *ExchangeError
		if !errors.As(err, &xe) || !xe.Rejected() {
			t.Fatalf("call %d: %v, want the rejection", i, err)
		}
	}
	if src.Calls() != 1 {
		t.Fatalf("%d exchanges with a rejected key, want 1 (then backoff)", src.Calls())
	}
	ready, why := c.Status().Ready(clock.Now())
	if ready || why != "no token yet: the token endpoint rejected the API key (401); next attempt in 5m0s" {
		t.Errorf("Ready = %v, %q", ready, why)
	}
	src.SetErr(nil) // the key was replaced
	c.Reset()
	eventually(t, "the exchange started by Reset", func() bool { return c.Status().HasToken })
	if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != "tok-2" {
		t.Fatalf("after Reset: %v, %v", tok, err)
	}
}

func TestCachedResetDropsTokenAndOlderResults(t *testing.T) {
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
	c.Invalidate(Token{AccessToken: "tok-1"})
	old := make(chan Token, 1)
	go func() { tok, _ := c.Token(context.Background()); old <- tok }() // exchange 2, with the old key
	<-src.started
	c.Reset() // cancels exchange 2; exchange 3, with the new key
	<-src.started
	close(gate)
	if tok := <-old; tok.AccessToken != "tok-3" {
		t.Errorf("the waiter of the cancelled exchange got %v, want tok-3, made with the new key", tok)
	}
	eventually(t, "both exchanges", func() bool { return c.Status().Exchanges == 3 })
	if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != "tok-3" {
		t.Fatalf("after Reset: %v, %v; want tok-3, not the older result", tok, err)
	}
}

func TestCachedInvalidateOnlyCurrent(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, time.Hour)
	c := NewCached(src, exactOptions(clock))
	defer c.Close()
	tok1, err := c.Token(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		drop     Token
		hasToken bool
	}{
		{"another token is ignored", Token{AccessToken: "tok-0"}, true},
		{"the empty token is ignored", Token{}, true},
		{"the current token is dropped", tok1, false},
		{"dropping it twice is harmless", tok1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Invalidate(tt.drop)
			if got := c.Status().HasToken; got != tt.hasToken {
				t.Errorf("HasToken = %v, want %v", got, tt.hasToken)
			}
		})
	}
	if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != "tok-2" || src.Calls() != 2 {
		t.Fatalf("after Invalidate: %v, %v after %d exchanges", tok, err, src.Calls())
	}
}

func TestCachedStaleOnArrival(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, -time.Second) // expired on arrival: the clock is ahead
	c := NewCached(src, exactOptions(clock))
	defer c.Close()
	_, err := c.Token(ctxTimeout(t))
	if err == nil || !strings.Contains(err.Error(), "is the clock right?") {
		t.Fatalf("error %v, want a token that is too short to be refused", err)
	}
	if _, err := c.Token(ctxTimeout(t)); err == nil || src.Calls() != 1 {
		t.Fatalf("second call: %v after %d exchanges, want a fast failure after 1", err, src.Calls())
	}
}

func TestCachedStartCloseToken(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, time.Hour)
	c := NewCached(src, exactOptions(clock))
	c.Start()
	clock.waitAfter(t, 1)
	c.Close()
	c.Close()
	c.Start() // no-op after Close
	clock.Advance(2 * time.Hour)
	if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != "tok-2" {
		t.Fatalf("Token after Close: %v, %v", tok, err)
	}
	c.Close()
}

func TestNoTokenErrorRetryAfter(t *testing.T) {
	tests := []struct {
		next time.Duration // NextAttempt - at; -1 means zero NextAttempt
		want time.Duration
	}{
		{-1, time.Second},
		{0, time.Second},
		{500 * time.Millisecond, time.Second},
		{time.Second, time.Second},
		{1200 * time.Millisecond, 2 * time.Second},
		{30 * time.Second, 30 * time.Second},
		{-time.Hour, time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.next), func(t *testing.T) {
			e := &NoTokenError{Err: errors.New("x"), at: t0}
			if tt.next != -1 {
				e.NextAttempt = t0.Add(tt.next)
			}
			if got := e.RetryAfter(); got != tt.want {
				t.Errorf("RetryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNoTokenErrorMessage(t *testing.T) {
	cause := &ExchangeError{Status: 401}
	tests := []struct {
		err  *NoTokenError
		want string
	}{
		{&NoTokenError{}, "tokensource: no access token"},
		{&NoTokenError{Err: cause}, "tokensource: no access token: the token endpoint answered 401 Unauthorized"},
		{&NoTokenError{Err: context.DeadlineExceeded}, "tokensource: no access token: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if tt.err.Err != nil && !errors.Is(tt.err, tt.err.Err) {
				t.Errorf("errors.Is does not find the cause")
			}
		})
	}
}

func TestStatusReady(t *testing.T) {
	exp := t0.Add(time.Hour)
	held := Status{HasToken: true, Expiry: exp, minRemaining: 10 * time.Second}
	failed := held
	failed.LastError = &ExchangeError{Status: 500}
	failed.NextAttempt = exp.Add(4 * time.Second)
	tests := []struct {
		name  string
		s     Status
		now   time.Time
		ready bool
		why   string
	}{
		{"nothing yet", Status{}, t0, false, "no token yet: the first token exchange has not finished"},
		{"invalidated", Status{LastRefresh: t0.Add(-time.Minute)}, t0, false, "no token: the upstream rejected the last one; fetching a new one"},
		{"key changed", Status{LastRefresh: t0.Add(-time.Minute), KeyChanged: true}, t0, false,
			"no token: the API key changed; waiting for a token with the new key"},
		{"key changed, new key rejected", Status{KeyChanged: true, LastError: &ExchangeError{Status: 400, Code: "BXNIM0415E", Message: "Provided API key could not be found."}}, t0, false,
			"no token yet: the token endpoint rejected the API key (400 BXNIM0415E: Provided API key could not be found.)"},
		{"network failure", Status{LastError: fmt.Errorf("tokensource: token exchange: %w", errors.New("dial tcp: refused"))}, t0, false,
			"no token yet: token exchange: dial tcp: refused"},
		{"timeout", Status{LastError: fmt.Errorf("tokensource: token exchange: %w", context.DeadlineExceeded)}, t0, false,
			"no token yet: the token endpoint did not answer in time"},
		{"bad answer", Status{LastError: &ResponseError{Reason: "no user_id"}}, t0, false,
			"no token yet: the token endpoint answered without a usable token (no user_id)"},
		{"valid", held, t0, true, ""},
		{"margin+1ns left", held, exp.Add(-10*time.Second - 1), true, ""},
		{"margin left, refresh due", held, exp.Add(-10 * time.Second), false, "token expires in 10s, within its 10s margin; a refresh is due"},
		{"expired after failures", failed, exp, false, "token expired; last refresh failed: the token endpoint answered 500; next attempt in 4s"},
		{"no expiry known", Status{HasToken: true}, t0, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, why := tt.s.Ready(tt.now)
			if ready != tt.ready || why != tt.why {
				t.Errorf("Ready = %v, %q; want %v, %q", ready, why, tt.ready, tt.why)
			}
		})
	}
}
