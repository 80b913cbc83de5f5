package inbound

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// idleBody cuts a request body that sends no byte for idle: before each read it sets the
// connection's read deadline idle ahead, so a stalled read fails with os.ErrDeadlineExceeded,
// which the proxy answers with 408. From window after its first byte on, a body slower on
// average than minRate fails the same way and its deadline is set in the past, so that net/http
// closes the connection. The deadline is cleared at the end of the body and on Close. The
// transport may read the body on a goroutine of its own and close it on another.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration

	minRate int64         // bytes per second
	window  time.Duration // after the first byte, before minRate applies
	first   time.Time     // of the first byte; Read runs on one goroutine at a time
	n       int64         // bytes read

	mu  sync.Mutex // held while setting a deadline, never during a read
	off bool       // no more deadlines: not supported, or the body is done
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if !b.off {
		if err := b.rc.SetReadDeadline(time.Now().Add(b.idle)); errors.Is(err, http.ErrNotSupported) {
			b.off = true
		}
	}
	b.mu.Unlock()
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.stop(time.Time{})
	}
	if now := time.Now(); n > 0 && b.first.IsZero() {
		b.first = now
	} else if d := now.Sub(b.first); err == nil && !b.first.IsZero() && d > b.window &&
		float64(b.n+int64(n)) < float64(b.minRate)*d.Seconds() {
		b.stop(now) // net/http fails to discard the rest and closes the connection
		return n, errTooSlow
	}
	b.n += int64(n)
	return n, err
}

var errTooSlow = fmt.Errorf("inbound: the request body arrives slower than inbound.min_body_rate: %w", os.ErrDeadlineExceeded)

// Close closes the body, then clears the deadline: net/http's Close discards what is left of
// the body, and a body that stalled must not make that wait forever.
func (b *idleBody) Close() error {
	err := b.ReadCloser.Close()
	b.stop(time.Time{})
	return err
}

// done is called when the request is answered. A body read to its end has no deadline left.
// Otherwise a last one is set idle ahead and kept: net/http reads what is left of the body to
// discard it after the handler returns, which must not wait forever on a stalled client; it
// sets the connection's deadlines itself afterwards.
func (b *idleBody) done() { b.stop(time.Now().Add(b.idle)) }

// stop stops setting deadlines and sets the last one, once; zero removes the one set.
func (b *idleBody) stop(last time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.off {
		b.off = true
		_ = b.rc.SetReadDeadline(last)
	}
}
