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

// idleBody cuts a request body that sends no byte for idle (inbound.body_idle_timeout): before
// each read it sets the connection's read deadline idle ahead, so a stalled read fails with a
// timeout error (os.ErrDeadlineExceeded), which the proxy answers with 408. From window after
// its first byte on, a body whose average rate since that byte is below minRate
// (inbound.min_body_rate) fails the same way, and the connection's deadline is set in the past
// so that net/http closes it: a body trickled one byte per pause holds no slot for long. The deadline is
// cleared at the end of the body and on Close, so that it never outlives the body; see done
// for a body left unread. Where the connection has no deadlines (http.ErrNotSupported) it does
// nothing. The transport may read the body on a goroutine of its own and close it on another.
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
		b.clear()
	}
	if now := time.Now(); n > 0 && b.first.IsZero() {
		b.first = now
	} else if d := now.Sub(b.first); err == nil && !b.first.IsZero() && d > b.window &&
		float64(b.n+int64(n)) < float64(b.minRate)*d.Seconds() {
		b.mu.Lock()
		b.off = true
		_ = b.rc.SetReadDeadline(now) // net/http fails to discard the rest and closes the connection
		b.mu.Unlock()
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
	b.clear()
	return err
}

// done is called when the request is answered. A body read to its end has no deadline left.
// Otherwise a last one is set idle ahead and kept: net/http reads what is left of the body to
// discard it after the handler returns, which must not wait forever on a stalled client; it
// sets the connection's deadlines itself afterwards.
func (b *idleBody) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.off {
		b.off = true
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
}

// clear stops setting deadlines and removes the one set, once.
func (b *idleBody) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.off {
		b.off = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}
