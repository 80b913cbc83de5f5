package tokensource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// refreshBurst is how many paced exchanges may follow one another without a pause.
const refreshBurst = 2

// forever is the refresh and stale point of a token without a known expiry.
var forever = time.Unix(1<<62, 0)

// startLocked starts an exchange, bounded by ExchangeTimeout, as the one in flight; c.mu held.
func (c *Cached) startLocked() *flight {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.ExchangeTimeout)
	f := &flight{done: make(chan struct{}), gen: c.gen, cancel: cancel}
	c.flight = f
	c.running[f] = true
	go c.run(ctx, f)
	return f
}

// run performs f's exchange, stores and logs its result, and wakes the loop and the waiters.
func (c *Cached) run(ctx context.Context, f *flight) {
	tok, err := c.src.Token(ctx)
	f.cancel()
	if c.opts.OnExchange != nil {
		c.opts.OnExchange(tok, err)
	}
	e, err, current := c.store(f, tok, err)
	log := c.opts.Logger
	switch st := c.Status(); {
	case !current:
		log.Debug().Err(err).Msg("discarded the result of a token exchange started before a reset")
	case st.OldToken:
		log.Error().Str("error", Describe(st.LastError)).Time("expiry", st.Expiry).Time("next_attempt", st.NextAttempt).
			Msg("the new credential failed; serving the token of the previous one until it expires")
	case err != nil:
		log.Warn().Str("error", err.Error()).Int64("failures", st.Failures).Time("next_attempt", st.NextAttempt).
			Msg("token exchange failed; backing off until next_attempt")
	default:
		log.Info().Str("user_id", tok.UserID).Time("expiry", tok.Expiry).Str("fingerprint", tok.Fingerprint()).
			Time("refresh_at", e.refreshAt).Msg("access token refreshed")
	}
	c.poke()
	close(f.done)
}

// store records the result of f. Results of exchanges started before a Reset only reach their
// own waiters; when the first one after a Reset fails, the previous token is served again.
func (c *Cached) store(f *flight, tok Token, err error) (e *entry, _ error, current bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Clock.Now()
	if err == nil {
		e, err = c.newEntry(tok, now)
	}
	current = f.gen == c.gen
	c.st.Exchanges++
	delete(c.running, f)
	if c.flight == f {
		c.flight = nil
	}
	f.tok, f.err = tok, err
	switch {
	case err == nil && current:
		c.cur = e
		c.failures, c.st.NextAttempt, c.st.LastError, c.st.LastRefresh = 0, time.Time{}, nil, now
		c.st.KeyChanged, c.st.OldToken, c.prev = false, false, nil
	case err != nil:
		c.st.Failures++
		if !current {
			break
		}
		c.failures++
		c.st.LastError, c.st.NextAttempt = err, now.Add(c.pause(err))
		if p := c.prev; p != nil && now.Before(p.staleAt) && c.cur == nil {
			c.cur = p
			c.st.OldToken = true
			f.tok, f.err = p.tok, nil
		}
	}
	return e, err, current
}

// newEntry schedules tok, which arrived at now. One with less than its margin left is an
// error, so that a wrong clock leads to a backoff rather than to a storm of exchanges.
func (c *Cached) newEntry(tok Token, now time.Time) (*entry, error) {
	e := &entry{tok: tok}
	if tok.Expiry.IsZero() {
		e.refreshAt, e.staleAt = forever, forever
		return e, nil
	}
	life := tok.Expiry.Sub(now)
	e.minRemaining = min(maxMinRemaining, max(life/10, 0))
	e.staleAt = tok.Expiry.Add(-e.minRemaining)
	if life <= 0 || !now.Before(e.staleAt) {
		return nil, fmt.Errorf("tokensource: the new token expires at %s, less than %s from now (is the clock right?)",
			tok.Expiry.UTC().Format(time.RFC3339), e.minRemaining)
	}
	fraction := refreshFraction + (2*rand.Float64()-1)*c.opts.jitter
	e.refreshAt = now.Add(time.Duration(min(max(fraction, 0), 1) * float64(life)))
	if e.refreshAt.After(e.staleAt) {
		e.refreshAt = e.staleAt
	}
	return e, nil
}

// pause returns how long to wait after err, the c.failures-th failure in a row: maxPause after
// a rejected credential, else the backoff or a longer Retry-After (plus a tenth of jitter).
func (c *Cached) pause(err error) time.Duration {
	xe, _ := errors.AsType[*ExchangeError](err)
	if xe != nil && xe.Rejected() {
		return maxPause
	}
	bound := backoffMin
	for i := 1; i < c.failures && bound < backoffMax; i++ {
		bound *= 2
	}
	d := min(bound, backoffMax)
	if spread := d - backoffMin; spread > 0 {
		d = backoffMin + c.randN(spread+1)
	}
	if xe != nil && xe.RetryAfter > d {
		d = xe.RetryAfter + c.randN(xe.RetryAfter/10+1)
	}
	return min(d, maxPause)
}

// Invalidate is told that the upstream rejected t. If t is current and the budget allows, it
// drops t and wakes the loop: a burst of rejections causes one exchange. It reports whether
// the request may be replayed with a new token: false when the budget kept t.
func (c *Cached) Invalidate(t Token) bool {
	c.mu.Lock()
	if c.cur == nil || c.cur.tok.AccessToken != t.AccessToken {
		c.mu.Unlock()
		return true
	}
	if c.takeLocked("invalidate") != nil {
		c.mu.Unlock()
		return false
	}
	c.cur, c.prev, c.st.OldToken = nil, nil, false // a rejected token is not served again
	c.mu.Unlock()
	c.opts.Logger.Info().Str("fingerprint", t.Fingerprint()).Msg("access token invalidated after a rejection")
	c.poke() // the loop fetches the next one now (within the backoff), not at the old refresh time
	return true
}

// Refresh starts an exchange unless one is in flight (an operator's "refresh the token"),
// serving the current token meanwhile. It returns a *RateLimitedError when none may start
// yet: the budget is spent, or a backoff runs.
func (c *Cached) Refresh() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flight != nil {
		return nil
	}
	now := c.opts.Clock.Now()
	if now.Before(c.st.NextAttempt) {
		return &RateLimitedError{RetryAfter: wholeSeconds(c.st.NextAttempt.Sub(now)),
			Reason: "the last token exchange failed (" + Describe(c.st.LastError) + "); backing off"}
	}
	if err := c.takeLocked("refresh"); err != nil {
		return err
	}
	c.startLocked()
	return nil
}

// budget paces the exchanges others cause: refreshBurst, then one per interval (zero: no
// limit). It is guarded by Cached.mu.
type budget struct {
	interval   time.Duration
	full       time.Time // when refreshBurst exchanges are allowed again; each one adds interval
	suppressed int       // refused since the last log line
	loggedAt   time.Time // when the last "suppressed" line was logged
}

// newBudget returns the budget of a MinRefreshInterval option.
func newBudget(interval time.Duration) budget {
	return budget{interval: max(cmp.Or(interval, DefaultMinRefreshInterval), 0)}
}

// takeLocked spends one paced exchange for cause, or else returns a *RateLimitedError and
// logs at most one warning per interval. c.mu must be held.
func (c *Cached) takeLocked(cause string) error {
	b, now := &c.budget, c.opts.Clock.Now()
	if b.interval == 0 {
		return nil
	}
	if b.full.Before(now) {
		b.full = now
	}
	wait := b.full.Sub(now) - (refreshBurst-1)*b.interval
	if wait <= 0 {
		b.full = b.full.Add(b.interval)
		return nil
	}
	if c.opts.OnSuppressed != nil {
		c.opts.OnSuppressed(cause)
	}
	if b.suppressed++; b.loggedAt.IsZero() || now.Before(b.loggedAt) || now.Sub(b.loggedAt) >= b.interval {
		c.opts.Logger.Warn().Str("cause", cause).Int("suppressed", b.suppressed).Int64("min_refresh_interval_ms", b.interval.Milliseconds()).
			Msg("token exchange suppressed: exchanges caused by upstream rejections and admin refreshes are limited by auth.min_refresh_interval")
		b.suppressed, b.loggedAt = 0, now
	}
	return &RateLimitedError{RetryAfter: wholeSeconds(wait), Reason: "token refreshes are limited to one per auth.min_refresh_interval"}
}

// RateLimitedError is returned by Cached.Refresh when no exchange may start yet.
type RateLimitedError struct {
	// RetryAfter is how long to wait before asking again, in whole seconds, at least 1 s.
	RetryAfter time.Duration
	// Reason says why, in words for a person.
	Reason string
}

// Error says that the refresh was refused, why, and when to try again.
func (e *RateLimitedError) Error() string {
	return "tokensource: refresh refused: " + e.Reason + "; retry in " + e.RetryAfter.String()
}

// wholeSeconds rounds d up to whole seconds, at least 1 s.
func wholeSeconds(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
