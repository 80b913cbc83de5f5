package proxy

import (
	"context"
	"net/http"
	"time"
)

// state is what the handler keeps for one request: the access record, the client's body, the
// counting response writer and the request id header's value, in one allocation. It is
// itself the request's context: the child of the server's context that carries the state
// (Value(stateKey{})), and passes everything else (deadline, cancellation, other values) to
// its parent, so that it costs no context.WithValue.
type state struct {
	context.Context // the server's context of the request

	rec   Record
	body  *clientBody // nil: the request has no body; else &bodyBuf
	now   func() time.Time
	timed bool // TimeUpstream measured the upstream round trips

	bodyBuf clientBody
	cw      countingWriter
	ids     [1]string // X-Request-Id's value, in both the request's and the response's header
}

// Value returns the state for stateKey{}, and asks the parent context for any other key.
func (s *state) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return s
	}
	return s.Context.Value(key)
}

// stateKey is the context key of the request's *state.
type stateKey struct{}

// stateFrom returns the request's state, or nil outside the handler.
func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// recordFrom returns the request's record, or nil outside the handler.
func recordFrom(ctx context.Context) *Record {
	if st := stateFrom(ctx); st != nil {
		return &st.rec
	}
	return nil
}

// MarkReplayed records that r was sent upstream again after the token was refreshed. It is
// meant as (part of) tokensource.Transport.OnReplay; outside the proxy handler it does nothing.
func MarkReplayed(r *http.Request) {
	if rec := recordFrom(r.Context()); rec != nil {
		rec.Replayed = true
	}
}

// TimeUpstream returns a RoundTripper that sends requests with base and adds the time of each
// upstream round trip, to the response headers, to the request's Record.UpstreamDuration (the
// upstream_duration of the access log and the metrics). Time spent waiting for the client's
// body during the round trip is left out. Put it under the token-attaching transport, as the
// Base of the tokensource.Transport that is Options.Transport, so that neither the token wait
// nor the replay buffering counts; a replayed request adds both round trips. Requests that do
// not come from a Handler pass through untimed. Without it, the Handler times the whole of
// Options.Transport.
func TimeUpstream(base http.RoundTripper) http.RoundTripper { return upstreamTimer{next: base} }

type upstreamTimer struct{ next http.RoundTripper }

func (t upstreamTimer) RoundTrip(req *http.Request) (*http.Response, error) {
	st := stateFrom(req.Context())
	if st == nil {
		return t.next.RoundTrip(req)
	}
	st.timed = true
	start, waited := st.now(), st.body.waited()
	resp, err := t.next.RoundTrip(req)
	if d := st.now().Sub(start) - (st.body.waited() - waited); d > 0 {
		st.rec.UpstreamDuration += d
	}
	return resp, err
}

// fallbackTiming times the whole of Options.Transport, token wait included, for a runtime
// that has not put TimeUpstream under it.
type fallbackTiming struct{ next http.RoundTripper }

func (t fallbackTiming) RoundTrip(req *http.Request) (*http.Response, error) {
	st := stateFrom(req.Context())
	if st == nil {
		return t.next.RoundTrip(req)
	}
	start := st.now()
	resp, err := t.next.RoundTrip(req)
	if !st.timed {
		st.rec.UpstreamDuration = st.now().Sub(start)
	}
	return resp, err
}
