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

// startLocked starts an exchange on c.ctx, bounded by ExchangeTimeout, and makes it the one in
// flight. c.mu must be held.
func (c *Cached) startLocked() *flight {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.ExchangeTimeout)
	f := &flight{done: make(chan struct{}), gen: c.gen, cancel: cancel}
	c.flight = f
	c.running[f] = true
	go c.run(ctx, f)
	return f
}

// run performs the exchange of f, stores its result, logs it, and wakes the loop and the
// waiters.
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

// store records the result of f: the new token and a reset backoff, or the error and the next
// pause. Results of exchanges started before a Reset only reach their own waiters. When the
// first exchange after a Reset fails, the token held before it is served again if still good.
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

// newEntry schedules tok, which arrived at now. A token without a known expiry never needs a
// refresh; one that arrives with less than the margin left is an error, so that a wrong clock
// leads to a backoff rather than to a storm of exchanges.
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

// pause returns how long to wait after err, the c.failures-th failure in a row: 5 min after a
// rejected credential (Reset ends it sooner), else the backoff, or the answer's Retry-After
// with a tenth of jitter on top when that is longer, never more than 5 min.
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

// Invalidate is told that the upstream rejected t. If t is still the current token (same
// AccessToken) and the MinRefreshInterval budget allows, it drops t and wakes the background
// loop to fetch the next one, so that a burst of requests rejected with t causes one exchange,
// not one each. It reports whether a request rejected with t may be sent again with a new
// token: true when t was dropped or is no longer current, false when the budget kept t (then
// the rejection should reach the client as it is).
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

// Refresh makes sure an exchange is under way (an operator's "refresh the token"): it starts
// one unless one is in flight already, and keeps serving the current token until the new one
// arrives. It returns nil when an exchange is under way (started now or before), and a
// *RateLimitedError when none may start yet: the MinRefreshInterval budget is spent, or a
// backoff after failures runs.
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

// budget paces the exchanges others cause, on the Cached's clock: refreshBurst at once, then
// one every interval; a zero interval means no limit. It is guarded by Cached.mu.
type budget struct {
	interval   time.Duration
	full       time.Time // when refreshBurst exchanges are allowed again; each one adds interval
	suppressed int       // refused since the last log line
	loggedAt   time.Time // when the last "suppressed" line was logged
}

// newBudget returns the budget of a MinRefreshInterval option: zero means the default, a
// negative value no limit.
func newBudget(interval time.Duration) budget {
	return budget{interval: max(cmp.Or(interval, DefaultMinRefreshInterval), 0)}
}

// takeLocked spends one paced exchange for cause, or else returns a *RateLimitedError, tells
// OnSuppressed and logs at most one warning per interval with the count since the last one.
// c.mu must be held.
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

// wholeSeconds rounds d up to whole seconds, at least 1 s.
func wholeSeconds(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
