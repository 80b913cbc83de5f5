package tokensource

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// forever returns the refresh and stale points of a token without a known expiry.
func forever() time.Time { return time.Unix(1<<62, 0) }

// startLocked starts an exchange on a context detached from any caller's cancellation and
// makes it the one in flight. c.mu must be held.
func (c *Cached) startLocked(parent context.Context) *flight {
	ctx, cancel := context.WithTimeout(parent, c.fetchTimeout)
	f := &flight{done: make(chan struct{}), gen: c.gen, cancel: cancel}
	c.flight = f
	c.running[f] = struct{}{}
	go c.run(ctx, f)
	return f
}

// run performs the exchange of f and publishes its result.
func (c *Cached) run(ctx context.Context, f *flight) {
	tok, err := c.src.Token(ctx)
	f.cancel()
	if c.opts.OnExchange != nil {
		c.opts.OnExchange(tok, err)
	}
	c.finish(f, tok, err)
}

// outcome is what one exchange changed, for the log line.
type outcome struct {
	current     bool // the exchange started after the last Reset, so its result counts
	entry       *entry
	err         error
	consecutive int
	next        time.Time
	now         time.Time
}

// finish stores the result of f, logs it, wakes the loop and the waiters, and marks f ended.
func (c *Cached) finish(f *flight, tok Token, err error) {
	o := c.store(f, tok, err)
	switch {
	case !o.current:
		c.log.Debug().Err(o.err).Msg("discarded the result of a token exchange started before a reset")
	case o.err != nil:
		c.log.Warn().Str("error", o.err.Error()).Int("failures_in_a_row", o.consecutive).
			Time("next_attempt", o.next).Int64("backoff_ms", o.next.Sub(o.now).Milliseconds()).
			Msg("token exchange failed; backing off until next_attempt")
	default:
		c.log.Info().Str("user_id", tok.UserID).Time("expiry", tok.Expiry).Str("fingerprint", tok.Fingerprint()).
			Time("refresh_at", o.entry.refreshAt).Msg("access token refreshed")
	}
	c.poke()
	close(f.done)
}

// store records the result of f: the new token and a reset backoff, or the error and the next
// backoff. Results of exchanges started before a Reset only reach their own waiters.
func (c *Cached) store(f *flight, tok Token, err error) outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := outcome{current: f.gen == c.gen, now: c.now()}
	if err == nil {
		o.entry, err = c.newEntry(tok, o.now)
	}
	c.exchanges++
	delete(c.running, f)
	if c.flight == f {
		c.flight = nil
	}
	if err != nil {
		c.failures++
		if o.current {
			c.consecutive++
			c.lastErr = err
			c.nextAttempt = o.now.Add(c.backoff(c.consecutive))
		}
		f.err, f.next = err, c.nextAttempt
	} else {
		f.tok = tok
		if o.current {
			c.cur.Store(o.entry)
			c.consecutive, c.nextAttempt, c.lastErr, c.lastRefresh = 0, time.Time{}, nil, o.now
			c.keyChanged = false
		}
	}
	o.err, o.consecutive, o.next = err, c.consecutive, c.nextAttempt
	return o
}

// newEntry schedules tok, which arrived at now. A token without a known expiry never needs a
// refresh; one that arrives with less than the margin left is an error, so that a wrong clock
// leads to a backoff rather than to a storm of exchanges.
func (c *Cached) newEntry(tok Token, now time.Time) (*entry, error) {
	e := &entry{tok: tok}
	if tok.Expiry.IsZero() {
		e.refreshAt, e.staleAt = forever(), forever()
		return e, nil
	}
	life := tok.Expiry.Sub(now)
	e.minRemaining = c.opts.MinRemaining
	if e.minRemaining <= 0 {
		e.minRemaining = min(maxMinRemaining, life/10)
	}
	e.staleAt = tok.Expiry.Add(-e.minRemaining)
	if life <= 0 || !now.Before(e.staleAt) {
		return nil, fmt.Errorf("tokensource: the new token expires at %s, less than %s from now (is the clock right?)",
			tok.Expiry.UTC().Format(time.RFC3339), e.minRemaining)
	}
	fraction := c.opts.RefreshFraction
	if c.opts.Jitter > 0 {
		fraction += (2*rand.Float64() - 1) * c.opts.Jitter
	}
	e.refreshAt = now.Add(time.Duration(min(max(fraction, 0), 1) * float64(life)))
	if e.refreshAt.After(e.staleAt) {
		e.refreshAt = e.staleAt
	}
	return e, nil
}

// backoff returns the pause after n failures in a row: a random duration between BackoffMin
// and BackoffMin·2^(n-1), capped at BackoffMax.
func (c *Cached) backoff(n int) time.Duration {
	bound := c.opts.BackoffMin
	for i := 1; i < n && bound < c.opts.BackoffMax; i++ {
		bound *= 2
	}
	bound = min(bound, c.opts.BackoffMax)
	if spread := bound - c.opts.BackoffMin; spread > 0 {
		return c.opts.BackoffMin + c.randN(spread+1)
	}
	return bound
}
