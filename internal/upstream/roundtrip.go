package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"
)

// saturatedFor is how long Saturated stays true after a *PoolError.
const saturatedFor = 10 * time.Second

// PoolError is the error of a request that waited Options.Timeout for a connection to the
// upstream while all MaxConns were busy (upstream.max_conns). Nothing of it was sent.
type PoolError struct {
	MaxConns int           // the pool's size
	Waited   time.Duration // how long the request waited
}

// Error says that the pool is exhausted and by what.
func (e *PoolError) Error() string {
	return fmt.Sprintf("upstream: no connection to the upstream within %s: all %d connections of upstream.max_conns are busy",
		e.Waited, e.MaxConns)
}

var errPoolWait = errors.New("upstream: the wait for a pooled connection timed out")

// RoundTrip sends req on the current transport; with no connection within Options.Timeout it
// fails with a *PoolError. The package doc says what is ever sent again.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	g := t.cur.Load()
	// The request's context, cancelled also when the wait for a connection ends. It is left
	// to end with its parent: cancelling it once the body is done would cancel nothing
	// useful, and net/http then sometimes closes the connection instead of keeping it.
	ctx, cancel := context.WithCancelCause(req.Context())
	var dialed atomic.Bool // a dial started for this request: a slow dial is no full pool
	wait := time.AfterFunc(g.opts.Timeout, func() { cancel(errPoolWait) })
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectStart: func(string, string) { dialed.Store(true) },
		GotConn:      func(httptrace.GotConnInfo) { wait.Stop() },
	})
	resp, err := g.http.RoundTrip(sentOnce(req).WithContext(ctx))
	wait.Stop()
	if err != nil {
		if context.Cause(ctx) == errPoolWait && req.Context().Err() == nil && !dialed.Load() {
			t.exhausted.Store(time.Now().UnixNano())
			err = &PoolError{MaxConns: g.opts.MaxConns, Waited: g.opts.Timeout}
		}
		return nil, err
	}
	resp.Request = req
	return resp, nil
}

// Saturated reports whether a request got a *PoolError (all max_conns busy) in the last 10 s.
func (t *Transport) Saturated() bool {
	at := t.exhausted.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < saturatedFor
}

// idempotencyHeaders are the headers that make net/http resend any request (Request's
// isReplayable), under their canonical names: the only ones it looks up.
var idempotencyHeaders = [...]string{"Idempotency-Key", "X-Idempotency-Key"}

// sentOnce returns req, or, for a method net/http does not resend by itself, a copy with the
// idempotencyHeaders under lower-case names, which net/http does not look up: it won't resend it.
func sentOnce(req *http.Request) *http.Request {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions:
		return req
	}
	out := req
	for _, k := range idempotencyHeaders {
		if v, ok := req.Header[k]; ok {
			if out == req {
				out = req.Clone(req.Context())
			}
			delete(out.Header, k)
			out.Header[strings.ToLower(k)] = v
		}
	}
	return out
}
