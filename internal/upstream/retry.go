package upstream

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// Backoff between retries of a request that never reached the upstream: doubling from
// retryFirst up to retryMax, within Options.RetryWindow in total.
const (
	retryFirst = 10 * time.Millisecond
	retryMax   = 200 * time.Millisecond
)

// RoundTrip sends req on the current transport.
//
// Retries follow two rules. net/http's own (Transport, see persistConn.shouldRetryRequest)
// apply on a reused connection that the upstream closed: a request of which nothing was
// written is sent again when its body can be replayed (none, or GetBody); one that was written
// but got no byte of an answer is sent again only when it is idempotent (GET, HEAD, OPTIONS,
// TRACE, or an Idempotency-Key header) and replayable. That is right, and kept.
//
// RoundTrip adds what net/http leaves out: a request that never reached the upstream — the
// dial failed (connection refused, the upstream restarting) or the connection was reset or
// closed before its headers were written and before a byte of its body was read — is sent again
// with a short backoff for up to Options.RetryWindow, whatever its method and even with a
// body that cannot be replayed, since none of it was consumed. A request that may have reached
// the upstream is never retried here. A cancelled request context stops the retries.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	g := t.cur.Load()
	if g.opts.RetryWindow < 0 {
		return g.http.RoundTrip(req)
	}
	body := holdBody(req)
	deadline := time.Now().Add(g.opts.RetryWindow)
	wait := retryFirst
	for {
		var wrote atomic.Bool
		ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteHeaders: func() { wrote.Store(true) },
		})
		r := req.WithContext(ctx)
		if body != nil {
			r.Body = body
		}
		resp, err := g.http.RoundTrip(r)
		if err == nil {
			body.release()
			resp.Request = req
			return resp, nil
		}
		if wrote.Load() || !body.unread() || !neverReached(err) || !time.Now().Add(wait).Before(deadline) {
			body.release()
			return nil, err
		}
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			body.release()
			return nil, err
		case <-timer.C:
		}
		wait = min(2*wait, retryMax)
		g = t.cur.Load() // a Swap in between applies to the next attempt
	}
}

// neverReached reports whether err is one that a request meets before the upstream saw it:
// a failed dial, or a connection refused, reset or closed. The caller checks too that nothing
// of the request was written.
func neverReached(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	for _, e := range refusedErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	for _, e := range resetErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// heldBody wraps a request body so that it survives an attempt that did not read it: while
// nothing has been read, the transport's Close is deferred until release, so that the next
// attempt can send the same body. Once a byte was read, Close goes through at once.
type heldBody struct {
	mu       sync.Mutex
	rc       io.ReadCloser
	read     bool // a Read returned bytes
	released bool // the last attempt is over: Close goes through
	wantShut bool // Close was called while held
	shut     bool // rc was closed
}

// holdBody returns a heldBody for req's body, or nil when req has none.
func holdBody(req *http.Request) *heldBody {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	return &heldBody{rc: req.Body}
}

// Read reads from the body and notes whether bytes were read.
func (b *heldBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.mu.Lock()
		b.read = true
		b.mu.Unlock()
	}
	return n, err
}

// Close closes the body, unless nothing was read and the attempt may be repeated.
func (b *heldBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.read && !b.released {
		b.wantShut = true
		return nil
	}
	return b.closeLocked()
}

func (b *heldBody) closeLocked() error {
	if b.shut {
		return nil
	}
	b.shut = true
	return b.rc.Close()
}

// unread reports whether no byte of the body was read; true for no body.
func (b *heldBody) unread() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.read
}

// release ends the holding: a deferred Close happens now, later ones go through.
func (b *heldBody) release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.released = true
	if b.wantShut {
		_ = b.closeLocked()
	}
}
