package tokensource

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// wallClock is time.Now without its monotonic reading. Token expiry is wall-clock time (the
// server checks exp against its own clock), and Go compares two times with monotonic readings
// by those alone, a clock that stops while a laptop sleeps: a token that expired during the
// sleep would still look fresh. Wall-clock comparisons see the sleep.
func wallClock() time.Time { return time.Now().Round(0) }

// Defaults of CachedOptions.
const (
	defaultRefreshFraction = 0.8
	defaultJitter          = 0.05
	defaultBackoffMin      = time.Second
	defaultBackoffMax      = time.Minute
	maxMinRemaining        = 10 * time.Second
	fetchTimeout           = 30 * time.Second
)

// CachedOptions configures a Cached. The zero value is usable.
type CachedOptions struct {
	// RefreshFraction is the fraction of a token's lifetime after which a new one is fetched in
	// the background. Zero (or less) means 0.8. The lifetime is measured from the moment the
	// token arrived, on the local clock.
	RefreshFraction float64
	// Jitter is the largest fraction of the lifetime added to or taken from the refresh point at
	// random, so that many proxies do not refresh at once. Zero means 0.05; a negative value
	// means no jitter. The refresh point never goes past the MinRemaining margin.
	Jitter float64
	// MinRemaining is the least time a token handed out still has before it expires. Zero means
	// min(10s, lifetime/10), so that a 2 s token keeps a 0.2 s margin.
	MinRemaining time.Duration
	// BackoffMin and BackoffMax bound the pause after a failed exchange: it doubles from
	// BackoffMin with every failure in a row, up to BackoffMax, and is drawn at random between
	// BackoffMin and that bound. Zero means 1 s and 1 min.
	BackoffMin, BackoffMax time.Duration
	// Now is the clock. Nil means the wall clock (time.Now without its monotonic reading, so
	// that a laptop's sleep counts).
	Now func() time.Time
	// After is the timer of the background loop. Nil means time.After.
	After func(time.Duration) <-chan time.Time
	// Logger receives the token events: refreshed (info), failed and backing off (warn).
	Logger zerolog.Logger
	// OnExchange, if set, is called after each exchange of the underlying Source with its
	// result, e.g. for metrics. It runs on the exchange's goroutine and must be cheap.
	OnExchange func(tok Token, err error)
}

// Cached is a Source that reuses the token of another Source until it is about to expire. Any
// number of concurrent callers cause at most one exchange at a time; after a failure, callers
// without a usable token get a *NoTokenError at once until the backoff has passed. Start adds
// a background goroutine that refreshes the token ahead of its expiry, so that warm callers
// never wait.
//
// A Cached is safe for concurrent use. Close stops the background goroutine; Token keeps
// working after Close, fetching on demand.
type Cached struct {
	src          Source
	opts         CachedOptions
	now          func() time.Time
	after        func(time.Duration) <-chan time.Time
	log          zerolog.Logger
	fetchTimeout time.Duration

	cur  atomic.Pointer[entry] // the current token; nil when there is none
	wake chan struct{}         // tells the background loop to look again; capacity 1

	mu          sync.Mutex
	idle        sync.Cond // signalled when running drops to zero
	flight      *flight   // the exchange in flight, if any
	running     int       // exchanges in flight, including those orphaned by Reset
	gen         uint64    // bumped by Reset: results of older exchanges are not kept
	consecutive int       // failures in a row
	nextAttempt time.Time // no exchange before this
	lastErr     error
	lastRefresh time.Time
	exchanges   int64
	failures    int64
	stop        chan struct{} // closes to stop the loop; nil when not running
	loopDone    chan struct{}
	closed      bool
}

// entry is an immutable snapshot of the current token and its schedule.
type entry struct {
	tok          Token
	refreshAt    time.Time // refresh in the background from here on
	staleAt      time.Time // Expiry - minRemaining: the token is handed out strictly before this
	minRemaining time.Duration
}

// flight is one exchange of the underlying Source; done closes when tok, err and next are set.
type flight struct {
	done   chan struct{}
	cancel context.CancelFunc // ends the exchange early (Close)
	gen    uint64
	tok    Token
	err    error
	next   time.Time
}

// NewCached returns a Cached drawing tokens from src. It does nothing until Token or Start is
// called.
func NewCached(src Source, opts CachedOptions) *Cached {
	if opts.RefreshFraction <= 0 {
		opts.RefreshFraction = defaultRefreshFraction
	}
	switch {
	case opts.Jitter == 0:
		opts.Jitter = defaultJitter
	case opts.Jitter < 0:
		opts.Jitter = 0
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = defaultBackoffMin
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = defaultBackoffMax
	}
	opts.BackoffMax = max(opts.BackoffMax, opts.BackoffMin)
	c := &Cached{
		src:          src,
		opts:         opts,
		now:          opts.Now,
		after:        opts.After,
		log:          opts.Logger,
		fetchTimeout: fetchTimeout,
		wake:         make(chan struct{}, 1),
	}
	if c.now == nil {
		c.now = wallClock
	}
	if c.after == nil {
		c.after = time.After
	}
	c.idle.L = &c.mu
	return c
}

// Token returns the current token when it has more than MinRemaining left, without locking or
// allocating. Past the refresh point it also starts a background refresh if none is running.
// Without a usable token it waits for the one exchange in flight (starting it if needed) until
// ctx ends; while backing off after a failure it returns a *NoTokenError at once. Every error
// it returns is a *NoTokenError.
func (c *Cached) Token(ctx context.Context) (Token, error) {
	if e := c.cur.Load(); e != nil {
		now := c.now()
		if now.Before(e.refreshAt) {
			return e.tok, nil
		}
		if now.Before(e.staleAt) {
			c.kick()
			return e.tok, nil
		}
	}
	return c.wait(ctx)
}

// wait is the slow path of Token: join or start the exchange, or fail fast while backing off.
func (c *Cached) wait(ctx context.Context) (Token, error) {
	c.mu.Lock()
	now := c.now()
	if e := c.cur.Load(); e != nil && now.Before(e.staleAt) {
		c.mu.Unlock()
		return e.tok, nil
	}
	f := c.flight
	if f == nil {
		if now.Before(c.nextAttempt) {
			err := &NoTokenError{Err: c.lastErr, NextAttempt: c.nextAttempt, at: now}
			c.mu.Unlock()
			return Token{}, err
		}
		f = c.startLocked(context.WithoutCancel(ctx))
	}
	c.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return Token{}, &NoTokenError{Err: fmt.Errorf("tokensource: waiting for the token exchange: %w", ctx.Err()), at: c.now()}
	}
	if f.err != nil {
		return Token{}, &NoTokenError{Err: f.err, NextAttempt: f.next, at: c.now()}
	}
	return f.tok, nil
}

// kick starts a background refresh if none is running and no backoff forbids it. It gives up
// when the lock is busy: whoever holds it is doing the same or the next caller will.
func (c *Cached) kick() {
	if !c.mu.TryLock() {
		return
	}
	now := c.now()
	if e := c.cur.Load(); e != nil && c.flight == nil && !now.Before(c.nextAttempt) && !now.Before(e.refreshAt) {
		c.startLocked(context.Background())
	}
	c.mu.Unlock()
}

// Start starts the background refresh goroutine, which fetches the first token at once. It is
// idempotent, and does nothing after Close.
func (c *Cached) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loopDone != nil || c.closed {
		return
	}
	c.stop = make(chan struct{})
	c.loopDone = make(chan struct{})
	go c.loop(c.stop, c.loopDone)
}

// Close stops the background goroutine, cancels the exchange in flight and waits for both. It is idempotent. Token keeps working after Close, fetching on
// demand; an exchange started after Close is waited for by the next Close.
func (c *Cached) Close() {
	c.mu.Lock()
	c.closed = true
	stop, done := c.stop, c.loopDone
	c.stop = nil
	if c.flight != nil {
		c.flight.cancel() // nobody will wait for it: do not hold shutdown for its timeout
	}
	c.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	if done != nil {
		<-done
	}
	c.mu.Lock()
	for c.running > 0 {
		c.idle.Wait()
	}
	c.mu.Unlock()
}

// Invalidate drops t if, and only if, it is still the current token (same AccessToken), so that
// a burst of requests rejected with t causes one refresh, not one each.
func (c *Cached) Invalidate(t Token) {
	c.mu.Lock()
	e := c.cur.Load()
	hit := e != nil && e.tok.AccessToken == t.AccessToken
	if hit {
		c.cur.Store(nil)
	}
	c.mu.Unlock()
	if hit {
		c.log.Info().Str("fingerprint", t.Fingerprint()).Msg("access token invalidated after a rejection")
		c.poke() // the loop fetches the next one now (within the backoff), not at the old refresh time
	}
}

// Refresh starts an exchange now, unless one is running or a backoff forbids it, and keeps
// serving the current token until the new one arrives (an operator's "refresh the token").
// It reports whether it started one.
func (c *Cached) Refresh() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flight != nil || c.now().Before(c.nextAttempt) {
		return false
	}
	c.startLocked(context.Background())
	return true
}

// poke wakes the background loop, if it waits.
func (c *Cached) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Reset drops the current token unconditionally, clears any backoff and starts an exchange at
// once: the API key changed. Results of exchanges started before Reset are not kept.
func (c *Cached) Reset() {
	c.mu.Lock()
	c.gen++
	c.cur.Store(nil)
	c.consecutive = 0
	c.nextAttempt = time.Time{}
	c.lastErr = nil
	c.startLocked(context.Background())
	c.mu.Unlock()
	c.log.Info().Msg("access token reset; fetching a new one")
}

// Status returns a snapshot of the cache, for readiness checks and the status page.
func (c *Cached) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{
		LastRefresh: c.lastRefresh,
		LastError:   c.lastErr,
		NextAttempt: c.nextAttempt,
		Exchanges:   c.exchanges,
		Failures:    c.failures,
	}
	if e := c.cur.Load(); e != nil {
		s.HasToken = true
		s.UserID = e.tok.UserID
		s.Expiry = e.tok.Expiry
		s.IssuedAt = e.tok.IssuedAt
		s.Fingerprint = e.tok.Fingerprint()
		s.minRemaining = e.minRemaining
	}
	return s
}

// loop refreshes the token ahead of its expiry until stop closes.
func (c *Cached) loop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select { // what woke us is about to be looked at
		case <-c.wake:
		default:
		}
		f, wait := c.plan()
		if f != nil {
			select {
			case <-f.done:
			case <-stop:
				return
			}
			continue
		}
		select {
		case <-stop:
			return
		case <-c.after(wait):
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
	now := c.now()
	if now.Before(c.nextAttempt) {
		return nil, c.nextAttempt.Sub(now)
	}
	e := c.cur.Load()
	if e == nil || !now.Before(e.refreshAt) {
		return c.startLocked(context.Background()), 0
	}
	return nil, e.refreshAt.Sub(now)
}
