package tokensource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == helperArg {
		commandHelper(os.Args[2:])
		return
	}
	goleak.VerifyTestMain(m)
}

// t0 is the start of every fake clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// makeJWT returns an unsigned JWT-shaped token whose payload is claims.
func makeJWT(claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + ".c2lnbmF0dXJl"
}

// afterCall is one call of fakeClock.After.
type afterCall struct {
	d  time.Duration
	ch chan time.Time
}

// fakeClock is a pinned clock with a recording timer: nothing fires unless the test says so.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	afters []afterCall
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.afters = append(c.afters, afterCall{d: d, ch: ch})
	return ch
}

// waitAfter waits until After has been called n times and returns the n-th call.
func (c *fakeClock) waitAfter(t *testing.T, n int) afterCall {
	t.Helper()
	var call afterCall
	eventually(t, fmt.Sprintf("After called %d times", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.afters) < n {
			return false
		}
		call = c.afters[n-1]
		return true
	})
	return call
}

// fire fires the timer of call at the clock's current time.
func (c *fakeClock) fire(call afterCall) { call.ch <- c.Now() }

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !waitUntil(cond) {
		t.Fatalf("timed out waiting for: %s", what)
	}
}

// waitUntil polls cond until it holds and reports true, or false after 10 s. Unlike
// eventually it may run on any goroutine.
func waitUntil(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// fakeSource issues tokens tok-1, tok-2, ... valid for life from now, or fails with err. With
// a gate, each call waits for the gate (or its ctx) first. Each call is announced on started.
type fakeSource struct {
	now     func() time.Time
	life    time.Duration
	started chan int

	mu    sync.Mutex
	calls int
	err   error
	gate  chan struct{}
}

func newFakeSource(now func() time.Time, life time.Duration) *fakeSource {
	return &fakeSource{now: now, life: life, started: make(chan int, 1000)}
}

func (s *fakeSource) Token(ctx context.Context) (Token, error) {
	s.mu.Lock()
	s.calls++
	n, err, gate := s.calls, s.err, s.gate
	s.mu.Unlock()
	s.started <- n
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return Token{}, ctx.Err()
		}
	}
	if err != nil {
		return Token{}, err
	}
	now := s.now()
	return Token{AccessToken: fmt.Sprintf("tok-%d", n), UserID: "user-1", IssuedAt: now, Expiry: now.Add(s.life)}, nil
}

func (s *fakeSource) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *fakeSource) SetErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *fakeSource) SetGate(gate chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = gate
}

// ctxTimeout returns a context ending after 10 s, cancelled at the end of the test.
func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
