package tokensource

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// wallClock is time.Now without its monotonic reading: token expiry is wall-clock time, and
// the monotonic clock stops while a laptop sleeps, so an expired token would look fresh.
func wallClock() time.Time { return time.Now().Round(0) }

const (
	// DefaultExchangeTimeout is what a zero CachedOptions.ExchangeTimeout means.
	DefaultExchangeTimeout = 30 * time.Second
	// DefaultMinRefreshInterval is what a zero CachedOptions.MinRefreshInterval means.
	DefaultMinRefreshInterval = 30 * time.Second
	refreshFraction           = 0.8
	defaultJitter             = 0.05
	// The pause after a failed exchange doubles from backoffMin up to backoffMax.
	backoffMin      = time.Second
	backoffMax      = time.Minute
	maxMinRemaining = 10 * time.Second
	// maxPause is the pause after a rejected credential, and the cap of every other one.
	maxPause = 5 * time.Minute
	// closeGrace bounds Close's wait for cancelled exchanges (a Source may ignore its context).
	closeGrace = 250 * time.Millisecond
)

// CachedOptions configures a Cached. The zero value is usable.
type CachedOptions struct {
	// ExchangeTimeout bounds each exchange of the underlying Source. Zero means 30 s.
	ExchangeTimeout time.Duration
	// MinRefreshInterval paces the exchanges Invalidate and Refresh cause: a burst of two, then
	// one per interval. Zero means 30 s; a negative value means no limit.
	MinRefreshInterval time.Duration
	// Clock gives the time and the background loop's timer. Nil means wallClock and time.After.
	Clock Clock
	// Logger receives the token events: refreshed (info), failed and backing off (warn).
	Logger zerolog.Logger
	// OnExchange, if set, gets each exchange's result (for metrics); it must be cheap.
	OnExchange func(tok Token, err error)
	// OnSuppressed, if set, gets the cause ("invalidate" or "refresh") of each paced exchange.
	OnSuppressed func(cause string)

	jitter float64 // the fraction of the lifetime refresh points vary by: zero means 0.05, negative none
}

// Clock is the time of a Cached, which tests replace.
type Clock interface {
	Now() time.Time
	After(time.Duration) <-chan time.Time
}

type wall struct{}

func (wall) Now() time.Time                         { return wallClock() }
func (wall) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Cached is a Source that reuses the token of another Source until it is about to expire:
// concurrent callers share one exchange, and after a failure get a *NoTokenError until the
// backoff has passed. Start refreshes ahead of expiry, so that warm callers never wait.
type Cached struct {
	src   Source
	opts  CachedOptions
	randN func(time.Duration) time.Duration // rand.N; tests pin it

	wake    chan struct{} // tells the background loop to look again; capacity 1
	waiting atomic.Int64  // callers waiting for an exchange, for tests

	mu       sync.Mutex
	cur      *entry             // the current token; nil when there is none
	st       Status             // the state that Status reports, but the token's
	ctx      context.Context    // the loop's and every exchange's: no caller's values or cancel
	cancel   context.CancelFunc // cancels ctx (Close)
	flight   *flight            // the exchange in flight, if any
	running  map[*flight]bool   // every exchange in flight, including those Reset replaced
	gen      uint64             // bumped by Reset: results of older exchanges are not kept
	prev     *entry             // the token held at Reset, served again if the new credential fails
	failures int                // failures in a row
	budget   budget             // paces Invalidate and Refresh
	loopDone chan struct{}      // closes when the loop ends; nil before Start
	closed   bool
}

// entry is an immutable snapshot of the current token and its schedule.
type entry struct {
	tok          Token
	refreshAt    time.Time // refresh in the background from here on
	staleAt      time.Time // Expiry - minRemaining: the token is handed out strictly before this
	minRemaining time.Duration
}

// flight is one exchange of the underlying Source; done closes when tok and err are set.
type flight struct {
	done   chan struct{}
	cancel context.CancelFunc // ends the exchange early (Reset, Close)
	gen    uint64             // Cached.gen when it started: Reset replaced it when they differ
	tok    Token
	err    error
}

// NewCached returns a Cached drawing tokens from src; it does nothing until Token or Start.
func NewCached(src Source, opts CachedOptions) *Cached {
	opts.ExchangeTimeout = cmp.Or(max(opts.ExchangeTimeout, 0), DefaultExchangeTimeout)
	opts.jitter = max(cmp.Or(opts.jitter, defaultJitter), 0)
	if opts.Clock == nil {
		opts.Clock = wall{}
	}
	c := &Cached{src: src, opts: opts, randN: rand.N[time.Duration], wake: make(chan struct{}, 1),
		running: make(map[*flight]bool), budget: newBudget(opts.MinRefreshInterval)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Token returns the current token while it has more than its margin left. Without one it
// waits until ctx ends for the exchange in flight (which never runs on ctx); while backing off
// it fails at once. Every error it returns is a *NoTokenError.
func (c *Cached) Token(ctx context.Context) (Token, error) {
	for { // a waiter whose exchange Reset cancelled waits for the one with the new credential
		f, tok, err := c.join()
		if f == nil {
			return tok, err
		}
		c.waiting.Add(1)
		select {
		case <-f.done:
			c.waiting.Add(-1)
		case <-ctx.Done():
			c.waiting.Add(-1)
			return Token{}, &NoTokenError{Err: fmt.Errorf("tokensource: waiting for the token exchange: %w", ctx.Err()), at: c.opts.Clock.Now()}
		}
		c.mu.Lock()
		replaced, next := f.gen != c.gen, c.st.NextAttempt
		c.mu.Unlock()
		if f.err == nil {
			return f.tok, nil
		}
		if !replaced {
			return Token{}, &NoTokenError{Err: f.err, NextAttempt: next, at: c.opts.Clock.Now()}
		}
	}
}

// join returns the exchange to wait for, starting one if needed, or else the token or the
// error to return at once.
func (c *Cached) join() (*flight, Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Clock.Now()
	if e := c.cur; e != nil && now.Before(e.staleAt) {
		if c.flight == nil && !now.Before(c.st.NextAttempt) && !now.Before(e.refreshAt) {
			c.startLocked()
		}
		return nil, e.tok, nil
	}
	if err := c.unavailableLocked(now); err != nil {
		return nil, Token{}, err
	}
	if c.flight == nil {
		c.startLocked()
	}
	return c.flight, Token{}, nil
}

// unavailable returns the *NoTokenError Token would return at once (no usable token and a
// backoff running), or nil.
func (c *Cached) unavailable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unavailableLocked(c.opts.Clock.Now())
}

// unavailableLocked is unavailable under c.mu.
func (c *Cached) unavailableLocked(now time.Time) error {
	if e := c.cur; c.flight != nil || (e != nil && now.Before(e.staleAt)) || !now.Before(c.st.NextAttempt) {
		return nil
	}
	return &NoTokenError{Err: c.st.LastError, NextAttempt: c.st.NextAttempt, at: now}
}

// Start starts the background refresh goroutine, which fetches the first token at once. It is
// idempotent, and does nothing after Close.
func (c *Cached) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loopDone != nil || c.closed {
		return
	}
	c.loopDone = make(chan struct{})
	go c.loop(c.ctx, c.loopDone)
}

// Close stops the background goroutine and cancels every exchange in flight, waiting for them
// at most closeGrace. It is idempotent; Token keeps working after Close, fetching on demand.
func (c *Cached) Close() {
	c.mu.Lock()
	c.closed = true
	done := c.loopDone
	c.cancel() // ends the loop and every exchange
	c.ctx, c.cancel = context.WithCancel(context.Background())
	flights := slices.Collect(maps.Keys(c.running))
	c.mu.Unlock()
	if done != nil {
		<-done
	}
	grace := time.After(closeGrace)
	for _, f := range flights {
		select {
		case <-f.done:
		case <-grace:
			c.opts.Logger.Warn().Msg("a cancelled token exchange has not ended; not waiting for it")
			return
		}
	}
}

// poke wakes the background loop, if it waits.
func (c *Cached) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Reset clears any backoff, cancels the exchange in flight and starts a new one, unpaced: the
// credential changed. If the new credential fails, the token held before Reset is served
// again until its margin (Status.OldToken).
func (c *Cached) Reset() {
	c.mu.Lock()
	c.gen++
	if f := c.flight; f != nil {
		f.cancel() // it uses the old credential; its waiters move on to the exchange started below
	}
	if c.cur != nil {
		c.prev, c.cur = c.cur, nil
	}
	c.st.KeyChanged, c.st.OldToken = true, false
	c.failures, c.st.NextAttempt, c.st.LastError = 0, time.Time{}, nil
	c.startLocked()
	c.mu.Unlock()
	c.opts.Logger.Info().Msg("access token reset; fetching a new one")
}

// Status returns a snapshot of the cache, for readiness checks, the status page and metrics.
func (c *Cached) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	if e := c.cur; e != nil {
		s.HasToken, s.UserID, s.Expiry, s.IssuedAt = true, e.tok.UserID, e.tok.Expiry, e.tok.IssuedAt
		s.Fingerprint, s.minRemaining = e.tok.Fingerprint(), e.minRemaining
	}
	return s
}

// loop refreshes the token ahead of its expiry until ctx (Close) ends.
func (c *Cached) loop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for {
		select { // what woke us is about to be looked at
		case <-c.wake:
		default:
		}
		var ended <-chan struct{}
		var timer <-chan time.Time
		if f, wait := c.plan(); f != nil {
			ended = f.done
		} else {
			timer = c.opts.Clock.After(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-ended:
		case <-timer:
		case <-c.wake:
		}
	}
}

// plan returns the exchange to wait for (starting one when due), or else how long to sleep.
func (c *Cached) plan() (*flight, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flight != nil {
		return c.flight, 0
	}
	now := c.opts.Clock.Now()
	if now.Before(c.st.NextAttempt) {
		return nil, c.st.NextAttempt.Sub(now)
	}
	if e := c.cur; e == nil || !now.Before(e.refreshAt) {
		return c.startLocked(), 0
	}
	return nil, c.cur.refreshAt.Sub(now)
}
