package proxy

import (
	"context"
	"net/http"
	"time"
)

// state is what the handler keeps for one request; the request's context carries it.
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

// MarkReplayed records that r was sent again after a token refresh (for Transport.OnReplay).
func MarkReplayed(r *http.Request) {
	if st := stateFrom(r.Context()); st != nil {
		st.rec.Replayed = true
	}
}

// TimeUpstream returns a RoundTripper over base that adds each upstream round trip's time, less
// the wait for the client's body, to the response headers and Record.UpstreamDuration. Put it
// under Options.Transport (as its Base) so that neither the token wait nor replay buffering
// counts. Requests that do not come from a Handler pass through untimed.
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
