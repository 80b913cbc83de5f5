package inbound

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// idleBody cuts a request body that sends no byte for idle (inbound.body_idle_timeout): before
// each read it sets the connection's read deadline idle ahead, so a stalled read fails with a
// timeout error (os.ErrDeadlineExceeded), which the proxy answers with 408. The deadline is
// cleared at the end of the body and on Close, so that it never outlives the body; see done
// for a body left unread. Where the connection has no deadlines (http.ErrNotSupported) it does
// nothing. The transport may read the body on a goroutine of its own and close it on another.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration

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
	return n, err
}

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
