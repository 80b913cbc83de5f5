package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Backoff between retries of a request that never reached the upstream: doubling from
// retryFirst up to retryMax, within Options.RetryWindow in total.
const (
	retryFirst = 10 * time.Millisecond
	retryMax   = 200 * time.Millisecond
	// keepMax bounds the body bytes kept for a retry: those read before the connection wrote
	// its first byte, at most one write buffer (the rest goes out as it is read).
	keepMax = 2 * bufferSize
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
// dial failed (connection refused: the upstream restarting), or the connection was refused,
// reset or closed before one byte of the request went to the socket — is sent again with a
// short backoff for up to Options.RetryWindow, whatever its method, with the same body (the
// few bytes of it read before the failure are kept for that). A request of which a byte was
// written may have reached the upstream and is never retried here. A cancelled request context
// stops the retries.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	g := t.cur.Load()
	if g.opts.RetryWindow < 0 {
		return g.http.RoundTrip(req)
	}
	body := holdBody(req)
	deadline := time.Now().Add(g.opts.RetryWindow)
	wait := retryFirst
	for {
		a := &attempt{}
		ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: a.gotConn})
		r := req.WithContext(ctx)
		if body != nil {
			r.Body = body.attempt(a)
		}
		resp, err := g.http.RoundTrip(r)
		if err == nil {
			body.release()
			resp.Request = req
			return resp, nil
		}
		dial := isDial(err)
		if dial {
			// The upstream refuses connections: its pooled ones are to a process that is gone.
			g.http.CloseIdleConnections()
		}
		reached := !dial && a.wrote()
		if reached || !body.replayable() || !neverReached(err) || !time.Now().Add(wait).Before(deadline) {
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
// a failed dial, or a connection refused, reset or closed. The caller checks too that no byte
// of the request was written.
func neverReached(err error) bool {
	if isDial(err) {
		return true
	}
	for _, e := range append(refusedErrnos, resetErrnos...) {
		if errors.Is(err, e) {
			return true
		}
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isEPIPE(err) ||
		strings.Contains(err.Error(), errServerClosedIdle)
}

// Refused reports a connection refused, by Windows' code too (errno_windows.go).
func Refused(err error) bool {
	return slices.ContainsFunc(refusedErrnos, func(e error) bool { return errors.Is(err, e) })
}

// errServerClosedIdle is the text of net/http's unexported error for a pooled connection
// that the server closed before the request was sent on it.
const errServerClosedIdle = "http: server closed idle connection"

// isDial reports a failed dial. net/http returns one only from its last try of a request:
// any earlier try on a pooled connection was one it judged safe to repeat.
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// countingConn counts the bytes written to a connection to the upstream.
type countingConn struct {
	net.Conn
	n atomic.Int64
}

// Write writes to the connection and counts what was written.
func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// countingDial wraps dial's connections in countingConn.
func countingDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c}, nil
	}
}

// attempt is one try of a request: the last connection it got (net/http may try several) and
// that connection's write count then. Nothing written since means nothing of the request
// reached the socket.
type attempt struct {
	mu   sync.Mutex
	conn *countingConn
	at   int64
	got  bool
}

func (a *attempt) gotConn(info httptrace.GotConnInfo) {
	c := info.Conn
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	cc, _ := c.(*countingConn)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = true
	if cc != nil {
		a.conn, a.at = cc, cc.n.Load()
	}
}

// wrote reports whether a byte may have been written on the attempt's connection since it got
// it. An unknown connection counts as written.
func (a *attempt) wrote() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !a.got:
		return false
	case a.conn == nil:
		return true
	default:
		return a.conn.n.Load() != a.at
	}
}

// heldBody is a request body shared by the attempts: it keeps the bytes read until the
// connection writes (at most keepMax) so that an attempt that sent nothing can be followed by
// one that sends the whole body, and it defers the transport's Close until the last attempt.
type heldBody struct {
	mu       sync.Mutex
	rc       io.ReadCloser
	kept     []byte
	lost     bool // bytes were read that are not kept: no replay
	cur      *attempt
	pos      int  // the current attempt's position in kept
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

// attempt returns the body for attempt a: the kept bytes again, then the rest.
func (b *heldBody) attempt(a *attempt) io.ReadCloser {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cur, b.pos = a, 0
	return &attemptBody{b: b, a: a}
}

// attemptBody is the body one attempt reads; it fails once a later attempt has begun.
type attemptBody struct {
	b *heldBody
	a *attempt
}

var errStaleAttempt = errors.New("upstream: request body read by an attempt that was given up")

// Read reads the kept bytes, then the body, keeping what it reads until the connection wrote.
func (r *attemptBody) Read(p []byte) (int, error) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != r.a {
		return 0, errStaleAttempt
	}
	if b.pos < len(b.kept) {
		n := copy(p, b.kept[b.pos:])
		b.pos += n
		return n, nil
	}
	n, err := b.rc.Read(p)
	if n > 0 && !b.lost {
		if r.a.wrote() || len(b.kept)+n > keepMax {
			b.lost, b.kept = true, nil
		} else {
			b.kept = append(b.kept, p[:n]...)
			b.pos += n
		}
	}
	return n, err
}

// Close closes the body when the last attempt is over, else defers it.
func (r *attemptBody) Close() error {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.released {
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

// replayable reports whether every byte read so far is kept; true for no body.
func (b *heldBody) replayable() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.lost
}

// release ends the holding: a deferred Close happens now, later ones go through, and the kept
// bytes are let go.
func (b *heldBody) release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.released = true
	if b.lost || b.pos >= len(b.kept) {
		b.kept = nil
	}
	if b.wantShut {
		_ = b.closeLocked()
	}
}
