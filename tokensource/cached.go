package tokensource

import (
	"context"
	"fmt"
	"math/rand/v2"
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
	// closeGrace bounds how long Close waits for cancelled exchanges to end: a Source that
	// ignores its context cannot hold shutdown longer.
	closeGrace = 250 * time.Millisecond
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
	// MinRefreshInterval paces the exchanges that others cause: an Invalidate (the upstream
	// rejected the token) or a Refresh (an operator asked). They share a bucket of two that
	// refills by one every MinRefreshInterval; when it is empty the Invalidate keeps the token
	// and the Refresh returns a *RateLimitedError. Background refreshes before expiry, callers
	// without a token, and Reset are not paced. Zero means 30 s (config
	// auth.min_refresh_interval); a negative value means no limit.
	MinRefreshInterval time.Duration
	// OnSuppressed, if set, is called with the cause ("invalidate" or "refresh") of each
	// exchange MinRefreshInterval refused, e.g. for a metric. It must be cheap.
	OnSuppressed func(cause string)
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
	randN        func(time.Duration) time.Duration // rand.N; tests pin it

	cur     atomic.Pointer[entry] // the current token; nil when there is none
	wake    chan struct{}         // tells the background loop to look again; capacity 1
	waiting atomic.Int64          // callers waiting for an exchange, for tests

	mu          sync.Mutex
	flight      *flight              // the exchange in flight, if any
	running     map[*flight]struct{} // exchanges in flight, including those replaced by Reset
	gen         uint64               // bumped by Reset: results of older exchanges are not kept
	keyChanged  bool                 // Reset dropped the token and none has arrived since
	budget      budget               // paces Invalidate and Refresh
	consecutive int                  // failures in a row
	nextAttempt time.Time            // no exchange before this
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
	cancel context.CancelFunc // ends the exchange early (Reset, Close)
	gen    uint64
	// replaced is set (under Cached.mu) when Reset cancelled the exchange.
	replaced bool
	tok      Token
	err      error
	next     time.Time
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
		randN:        rand.N[time.Duration],
		wake:         make(chan struct{}, 1),
		running:      make(map[*flight]struct{}),
		budget:       newBudget(opts.MinRefreshInterval),
	}
	if c.now == nil {
		c.now = wallClock
	}
	if c.after == nil {
		c.after = time.After
	}
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
// A waiter whose exchange Reset cancelled waits for the one with the new key.
func (c *Cached) wait(ctx context.Context) (Token, error) {
	for {
		f, tok, err := c.join(ctx)
		if f == nil {
			return tok, err
		}
		c.waiting.Add(1)
		select {
		case <-f.done:
			c.waiting.Add(-1)
		case <-ctx.Done():
			c.waiting.Add(-1)
			return Token{}, &NoTokenError{Err: fmt.Errorf("tokensource: waiting for the token exchange: %w", ctx.Err()), at: c.now()}
		}
		if f.err == nil {
			return f.tok, nil
		}
		c.mu.Lock()
		replaced := f.replaced
		c.mu.Unlock()
		if !replaced {
			return Token{}, &NoTokenError{Err: f.err, NextAttempt: f.next, at: c.now()}
		}
	}
}

// join returns the exchange to wait for, starting one if needed, or else the token or the
// error to return at once.
func (c *Cached) join(ctx context.Context) (*flight, Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if e := c.cur.Load(); e != nil && now.Before(e.staleAt) {
		return nil, e.tok, nil
	}
	if c.flight != nil {
		return c.flight, Token{}, nil
	}
	if now.Before(c.nextAttempt) {
		return nil, Token{}, &NoTokenError{Err: c.lastErr, NextAttempt: c.nextAttempt, at: now}
	}
	return c.startLocked(context.WithoutCancel(ctx)), Token{}, nil
}

// Unavailable returns the error Token would return at once, without waiting: a
// *NoTokenError while there is no usable token and a backoff forbids a new exchange; nil
// otherwise (Token would answer, or join or start an exchange). The Transport asks it before
// it reads a request body, so that a client sending Expect: 100-continue gets its 503 without
// sending the body.
func (c *Cached) Unavailable() error {
	if e := c.cur.Load(); e != nil && c.now().Before(e.staleAt) {
		return nil // the common case, without the lock: it is on every request with a body
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if e := c.cur.Load(); e != nil && now.Before(e.staleAt) {
		return nil
	}
	if c.flight == nil && now.Before(c.nextAttempt) {
		return &NoTokenError{Err: c.lastErr, NextAttempt: c.nextAttempt, at: now}
	}
	return nil
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

// Close stops the background goroutine, cancels every exchange in flight (those replaced by
// Reset too) and waits for them, but for at most a quarter of a second after the cancel: a
// Source that ignores its context cannot hold shutdown. It is idempotent. Token keeps
// working after Close, fetching on demand; an exchange started after Close is cancelled by
// the next Close.
func (c *Cached) Close() {
	c.mu.Lock()
	c.closed = true
	stop, done := c.stop, c.loopDone
	c.stop = nil
	flights := make([]*flight, 0, len(c.running))
	for f := range c.running {
		f.cancel() // nobody will wait for it: do not hold shutdown for its timeout
		flights = append(flights, f)
	}
	c.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	if done != nil {
		<-done
	}
	grace := time.NewTimer(closeGrace)
	defer grace.Stop()
	for _, f := range flights {
		select {
		case <-f.done:
		case <-grace.C:
			c.log.Warn().Msg("a cancelled token exchange has not ended; not waiting for it")
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

// Reset drops the current token unconditionally, clears any backoff, cancels the exchange in
// flight and starts a new one at once: the API key changed. Results of exchanges started
// before Reset are not kept. Reset is not paced by MinRefreshInterval.
func (c *Cached) Reset() {
	c.mu.Lock()
	c.gen++
	if c.flight != nil {
		c.flight.replaced = true // its waiters move on to the exchange started below
		c.flight.cancel()        // it uses the old key
	}
	c.keyChanged = true
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
		KeyChanged:  c.keyChanged,
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
