package proxy_test

import (
	"sync"
	"time"
)

// manualClock is a clock that moves only when a test moves it, for emulator.Options.Now,
// tokensource.ExchangeOptions.Now and tokensource.CachedOptions.Clock: token
// lifetimes, refresh points, margins and backoffs then follow the test's steps, not the load of
// the machine. It starts on a whole second, so that a JWT's exp (whole seconds) is exact. Its
// methods are safe for concurrent use.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []manualTimer
}

// manualTimer is a pending After: ch receives the time once the clock reaches at.
type manualTimer struct {
	at time.Time
	ch chan time.Time
}

func newManualClock() *manualClock { return &manualClock{now: time.Unix(1_800_000_000, 0)} }

// Now returns the clock's time.
func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Ahead returns a clock that reads d later than c: a token endpoint or upstream whose clock is
// ahead, or that sees a request d after the proxy attached the token to it.
func (c *manualClock) Ahead(d time.Duration) func() time.Time {
	return func() time.Time { return c.Now().Add(d) }
}

// After returns a channel that receives the time once the clock has moved d on.
func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, manualTimer{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock d on and fires the timers that came due.
func (c *manualClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t (never back) and fires the timers that came due.
func (c *manualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	pending := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.now) {
			pending = append(pending, tm)
			continue
		}
		tm.ch <- c.now // buffered, and sent to once
	}
	c.timers = pending
}

// hasTimer reports whether an After is pending that fires at exactly at: a loop that computed
// its sleep from the clock's present time is waiting for that moment.
func (c *manualClock) hasTimer(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tm := range c.timers {
		if tm.at.Equal(at) {
			return true
		}
	}
	return false
}
