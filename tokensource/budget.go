package tokensource

import (
	"context"
	"time"
)

const (
	// DefaultMinRefreshInterval is what a zero CachedOptions.MinRefreshInterval means, and the
	// default of auth.min_refresh_interval.
	DefaultMinRefreshInterval = 30 * time.Second
	// refreshBurst is how many paced exchanges may follow one another without a pause.
	refreshBurst = 2
)

// Invalidate is told that the upstream rejected t. If t is still the current token (same
// AccessToken) and the MinRefreshInterval budget allows, it drops t and wakes the background
// loop to fetch the next one, so that a burst of requests rejected with t causes one exchange,
// not one each. It reports whether a request rejected with t may be sent again with a new
// token: true when t was dropped or is no longer current, false when the budget kept t (then
// the rejection should reach the client as it is).
func (c *Cached) Invalidate(t Token) bool {
	c.mu.Lock()
	e := c.cur.Load()
	if e == nil || e.tok.AccessToken != t.AccessToken {
		c.mu.Unlock()
		return true
	}
	if ok, _ := c.budget.take(c.now()); !ok {
		c.suppressedLocked("invalidate")
		c.mu.Unlock()
		return false
	}
	c.cur.Store(nil)
	c.mu.Unlock()
	c.log.Info().Str("fingerprint", t.Fingerprint()).Msg("access token invalidated after a rejection")
	c.poke() // the loop fetches the next one now (within the backoff), not at the old refresh time
	return true
}

// Refresh starts an exchange now and keeps serving the current token until the new one
// arrives (an operator's "refresh the token"). It returns started true when it started the
// exchange, false with a nil error when one was already in flight (its token is on the way),
// and a *RateLimitedError when none may start yet: the MinRefreshInterval budget is spent, or
// a backoff after failures runs. An admin handler answers the error with 429 and its
// RetryAfter.
func (c *Cached) Refresh() (started bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flight != nil {
		return false, nil
	}
	now := c.now()
	if now.Before(c.nextAttempt) {
		return false, &RateLimitedError{RetryAfter: retryAfter(c.nextAttempt.Sub(now)), Reason: "the last token exchange failed; backing off"}
	}
	if ok, wait := c.budget.take(now); !ok {
		c.suppressedLocked("refresh")
		return false, &RateLimitedError{RetryAfter: retryAfter(wait), Reason: "token refreshes are limited to one per auth.min_refresh_interval"}
	}
	c.startLocked(context.Background())
	return true, nil
}

// budget is a token bucket on the Cached's clock: refreshBurst exchanges at once, then one
// every interval. A zero interval means no limit. It is guarded by Cached.mu.
type budget struct {
	interval time.Duration
	tokens   float64   // exchanges allowed now, up to refreshBurst
	at       time.Time // when tokens was last brought up to date; zero before the first take

	suppressed int       // refused since the last log line
	loggedAt   time.Time // when the last "suppressed" line was logged
}

// newBudget returns the budget of a MinRefreshInterval option: zero means the default, a
// negative value no limit.
func newBudget(interval time.Duration) budget {
	switch {
	case interval == 0:
		interval = DefaultMinRefreshInterval
	case interval < 0:
		interval = 0
	}
	return budget{interval: interval, tokens: refreshBurst}
}

// take spends one exchange at now if one is left, or else says how long until one is.
func (b *budget) take(now time.Time) (ok bool, wait time.Duration) {
	if b.interval == 0 {
		return true, 0
	}
	if !b.at.IsZero() && now.After(b.at) {
		b.tokens = min(refreshBurst, b.tokens+float64(now.Sub(b.at))/float64(b.interval))
	}
	if b.at.IsZero() || now.After(b.at) {
		b.at = now // a clock stepped back waits for the clock to catch up, refilling nothing
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(b.interval))
}

// suppressedLocked counts an exchange the budget refused, tells OnSuppressed, and logs at
// most one warning per MinRefreshInterval with the count since the last one. c.mu must be held.
func (c *Cached) suppressedLocked(cause string) {
	if c.opts.OnSuppressed != nil {
		c.opts.OnSuppressed(cause)
	}
	b := &c.budget
	b.suppressed++
	now := c.now()
	if !b.loggedAt.IsZero() && !now.Before(b.loggedAt) && now.Sub(b.loggedAt) < b.interval {
		return
	}
	c.log.Warn().Str("cause", cause).Int("suppressed", b.suppressed).Int64("min_refresh_interval_ms", b.interval.Milliseconds()).
		Msg("token exchange suppressed: exchanges caused by upstream rejections and admin refreshes are limited by auth.min_refresh_interval")
	b.suppressed, b.loggedAt = 0, now
}

// RateLimitedError is returned by Cached.Refresh when no exchange may start yet.
type RateLimitedError struct {
	// RetryAfter is how long to wait before asking again, in whole seconds and at least 1 s
	// (suited to a Retry-After header).
	RetryAfter time.Duration
	// Reason says why, in words for a person.
	Reason string
}

// Error says that the refresh was refused, why, and when to try again.
func (e *RateLimitedError) Error() string {
	return "tokensource: refresh refused: " + e.Reason + "; retry in " + e.RetryAfter.String()
}

// retryAfter rounds d up to whole seconds, at least 1 s.
func retryAfter(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
