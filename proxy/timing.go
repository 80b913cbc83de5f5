package proxy

import (
	"context"
	"net/http"
	"time"
)

// state is what the handler keeps for one request: the access record, the client's body and
// the counting response writer. The request's context carries it (stateKey).
type state struct {
	rec  Record
	body *clientBody // nil: the request has no body
	now  func() time.Time
	cw   countingWriter
}

// stateKey is the context key of the request's *state.
type stateKey struct{}

// stateFrom returns the request's state, or nil outside the handler.
func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// MarkReplayed records that r was sent upstream again after the token was refreshed. It is
// meant as (part of) tokensource.Transport.OnReplay; outside the proxy handler it does nothing.
func MarkReplayed(r *http.Request) {
	if st := stateFrom(r.Context()); st != nil {
		st.rec.Replayed = true
	}
}

// TimeUpstream returns a RoundTripper that sends requests with base and adds the time of each
// upstream round trip, to the response headers, to the request's Record.UpstreamDuration (the
// upstream_duration of the access log and the metrics), less the time spent waiting for the
// client's body. Put it under the token-attaching transport, as the Base of the
// tokensource.Transport that is Options.Transport, so that neither the token wait nor the
// replay buffering counts; a replayed request adds both round trips. Without it,
// upstream_duration is 0. Requests that do not come from a Handler pass through untimed.
func TimeUpstream(base http.RoundTripper) http.RoundTripper { return upstreamTimer{next: base} }

type upstreamTimer struct{ next http.RoundTripper }

func (t upstreamTimer) RoundTrip(req *http.Request) (*http.Response, error) {
	st := stateFrom(req.Context())
	if st == nil {
		return t.next.RoundTrip(req)
	}
	start, waited := st.now(), st.body.waited()
	resp, err := t.next.RoundTrip(req)
	if d := st.now().Sub(start) - (st.body.waited() - waited); d > 0 {
		st.rec.UpstreamDuration += d
	}
	return resp, err
}
