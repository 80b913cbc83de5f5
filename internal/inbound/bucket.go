package inbound

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket: it holds up to burst tokens, gains rate tokens a second, and each
// request takes one. It is safe for concurrent use.
type bucket struct {
	rate  float64 // tokens a second, > 0
	burst float64 // capacity, >= 1

	mu     sync.Mutex
	tokens float64
	last   time.Time // when tokens was last brought up to date; zero: never
}

// newBucket returns a full bucket, or nil when rate is 0 (no limit). burst 0 means
// max(1, ceil(rate)).
func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if burst == 0 {
		b = math.Max(1, math.Ceil(rate))
	}
	return &bucket{rate: rate, burst: b, tokens: b}
}

// take takes a token at now. When none is left it returns false and how many whole seconds
// (at least 1) to wait for the next.
func (b *bucket) take(now time.Time) (ok bool, retryAfter int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		if d := now.Sub(b.last).Seconds(); d > 0 {
			b.tokens = math.Min(b.burst, b.tokens+d*b.rate)
		}
	}
	if now.After(b.last) || b.last.IsZero() {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := math.Ceil((1 - b.tokens) / b.rate)
	return false, int(math.Min(math.Max(wait, 1), 1<<30))
}
