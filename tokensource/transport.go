package tokensource

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
)

const (
	defaultMaxReplay = 1 << 20
	// maxReplayMemory bounds the replay buffers of all requests in flight together.
	maxReplayMemory = 16 << 20
	// maxDrain bounds what is read of a rejected response before it is closed.
	maxDrain = 4 << 10
)

// Transport is an http.RoundTripper that attaches an access token to each request. It never
// forwards a client's credential (stripCredentials), and without a token sends nothing. On a
// RefreshOn status it tells the Cache and, if allowed and the body can be sent again, replays
// the request once. Its fields must not change once it is in use.
type Transport struct {
	// Cache gives the tokens and is told of each rejected one: the *Cached the rest of the
	// program reads, so the two cannot differ. Required.
	Cache *Cached
	// Base sends the requests; it should trust exactly the DBaaS CA file. Required.
	Base http.RoundTripper
	// Header is where the token goes: "x-auth-token" (or "") sends "x-auth-token: <token>",
	// "authorization" sends "Authorization: Bearer <token>".
	Header string
	// RefreshOn lists the statuses meaning "the token is no longer good". Nil means [401]; an
	// empty slice disables replays.
	RefreshOn []int
	// MaxReplayBytes is the largest body kept in memory for a replay: zero means 1 MiB, negative
	// none. A body with GetBody is replayed through GetBody whatever its size.
	MaxReplayBytes int64
	// OnReplay, if set, is called with the caller's request when it is replayed.
	OnReplay func(*http.Request)
	// Caches, if set, picks the cache of a request by its context (a gateway client with an
	// identity of its own); nil, or a nil answer, means Cache. See CacheFor.
	Caches func(context.Context) *Cached

	replayMemory atomic.Int64 // bytes of maxReplayMemory taken by requests in flight
	replayBudget int64        // maxReplayMemory, unless a test sets it
}

var _ http.RoundTripper = (*Transport)(nil)

// body is a request body as sent the first time, and how to send it again.
type body struct {
	first      io.ReadCloser
	replayable bool
	buf        []byte // the whole body, when it was kept for a replay
	reserved   int64  // replay memory budget taken, given back when RoundTrip returns
}

// CacheFor is the cache of the request whose context is ctx: Caches' choice, else Cache.
func (t *Transport) CacheFor(ctx context.Context) *Cached {
	if t.Caches != nil {
		if c := t.Caches(ctx); c != nil {
			return c
		}
	}
	return t.Cache
}

// RoundTrip sends a clone of req carrying the token (without one, a *NoTokenError). It never
// changes req, and closes req.Body on every path, as the RoundTripper contract asks.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	bearer, err := t.check()
	cache := t.CacheFor(req.Context())
	// A token that cannot be had now fails the request before its body is read: the client
	// (Expect: 100-continue) need not send it.
	if err == nil && req.Body != nil && req.Body != http.NoBody {
		err = cache.unavailable()
	}
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	// The body first: a slow client's upload must not age the token it is sent with.
	b, err := t.body(req)
	defer t.replayMemory.Add(-b.reserved) // give back the replay memory it took
	if err != nil {
		return nil, err
	}
	tok, err := cache.Token(req.Context())
	if err != nil {
		if b.first != nil {
			b.first.Close()
		}
		return nil, err
	}
	resp, err := t.Base.RoundTrip(t.outgoing(req, tok.AccessToken, bearer, b.first, b.buf))
	if err != nil || !t.refreshOn(resp.StatusCode) {
		return resp, err
	}
	// Invalidate even when the request cannot be replayed: the next one should not fail too.
	if !cache.Invalidate(tok) || !b.replayable {
		return resp, nil
	}
	return t.replay(req, resp, cache, bearer, b)
}

// replay discards resp, whose status rejected the token, and sends req again with a new token.
func (t *Transport) replay(req *http.Request, resp *http.Response, cache *Cached, bearer bool, b body) (*http.Response, error) {
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
	tok, err := cache.Token(req.Context())
	if err != nil {
		return nil, err
	}
	next := b.first
	switch {
	case b.buf != nil:
		next = io.NopCloser(bytes.NewReader(b.buf))
	case req.GetBody != nil:
		if next, err = req.GetBody(); err != nil {
			return nil, fmt.Errorf("tokensource: rewinding the request body for a replay: %w", err)
		}
	}
	if t.OnReplay != nil {
		t.OnReplay(req)
	}
	return t.Base.RoundTrip(t.outgoing(req, tok.AccessToken, bearer, next, b.buf))
}

// check validates the fields and returns whether the token goes in an Authorization header.
func (t *Transport) check() (bearer bool, err error) {
	switch {
	case t.Cache == nil || t.Base == nil:
		return false, errors.New("tokensource: the Transport needs a Cache and a Base")
	case t.Header == "" || strings.EqualFold(t.Header, "x-auth-token"):
		return false, nil
	case strings.EqualFold(t.Header, "authorization"):
		return true, nil
	}
	return false, fmt.Errorf("tokensource: Transport.Header %q is neither x-auth-token nor authorization", t.Header)
}

// refreshOn reports whether status means that the token is no longer good.
func (t *Transport) refreshOn(status int) bool {
	if t.RefreshOn == nil {
		return status == http.StatusUnauthorized
	}
	return slices.Contains(t.RefreshOn, status)
}

// body prepares req's body for a first send and, if possible, a replay (see keep). On error it
// has closed req.Body.
func (t *Transport) body(req *http.Request) (body, error) {
	limit := cmp.Or(t.MaxReplayBytes, defaultMaxReplay)
	switch {
	case req.Body == nil || req.Body == http.NoBody || req.GetBody != nil:
		return body{first: req.Body, replayable: true}, nil // a replay sends it again or uses GetBody
	case limit < 0 || req.ContentLength > limit:
		return body{first: req.Body}, nil
	}
	return t.keep(req, limit)
}

// keep reads req's body into memory, taking the bytes from the replay budget as they are read,
// so that a slow client holds only what it sent. When the body proves longer than limit or the
// budget is spent, what was read is sent ahead of the rest, unreplayable.
func (t *Transport) keep(req *http.Request, limit int64) (body, error) {
	want := limit + 1 // one more than may be kept, to see that a body is too long
	if req.ContentLength > 0 {
		want = req.ContentLength
	}
	r := &budgetReader{t: t, r: io.LimitReader(req.Body, want)}
	buf, err := io.ReadAll(r)
	switch {
	case err == errBudgetSpent || int64(len(buf)) > limit:
		return body{first: prefixed(buf, req.Body), reserved: r.taken}, nil
	case err == nil && req.ContentLength > 0 && int64(len(buf)) < req.ContentLength:
		err = io.ErrUnexpectedEOF
	}
	req.Body.Close()
	if err != nil {
		return body{reserved: r.taken}, fmt.Errorf("tokensource: reading the request body: %w", err)
	}
	return body{first: io.NopCloser(bytes.NewReader(buf)), replayable: true, buf: buf, reserved: r.taken}, nil
}

// errBudgetSpent ends a budgetReader when the replay memory budget is spent.
var errBudgetSpent = errors.New("tokensource: replay memory spent")

// budgetReader reads r, taking what it reads from the Transport's replay memory budget.
type budgetReader struct {
	t     *Transport
	r     io.Reader
	taken int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 && b.t.replayMemory.Add(int64(n)) > cmp.Or(b.t.replayBudget, maxReplayMemory) {
		b.t.replayMemory.Add(-int64(n)) // spent: the body streams through unreplayable
		return n, errBudgetSpent
	}
	b.taken += int64(n)
	return n, err
}

// prefixed is a body that sends prefix, then the rest of rc, and closes rc.
func prefixed(prefix []byte, rc io.ReadCloser) io.ReadCloser {
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(prefix), rc), rc}
}

// outgoing returns a clone of req with every client credential stripped, the body b and the
// token; with buf, its GetBody returns buf.
func (t *Transport) outgoing(req *http.Request, token string, bearer bool, b io.ReadCloser, buf []byte) *http.Request {
	out := req.Clone(req.Context())
	stripCredentials(out.Header)
	stripCredentials(out.Trailer)
	out.Body = b
	if buf != nil {
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	}
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	if bearer {
		out.Header.Set("Authorization", "Bearer "+token)
	} else {
		out.Header.Set("X-Auth-Token", token)
	}
	return out
}

// stripCredentials deletes from h every header a client could use to pass a credential
// upstream: x-auth-token, Authorization, api_key, Proxy-Authorization and Cookie, in any case
// and with '_' and '-' alike (net/http does not canonicalise names with an underscore).
func stripCredentials(h http.Header) {
	for name := range h {
		for _, owned := range [...]string{"x-auth-token", "authorization", "api-key", "proxy-authorization", "cookie"} {
			if SameName(name, owned) {
				delete(h, name)
			}
		}
	}
}

// SameName reports whether name is owned, a lower-case ASCII name, without case and with '_'
// equal to '-': the one rule for credential names in headers and query strings. The equal
// lengths keep Unicode's case folding (the Kelvin sign, the long s) out.
func SameName(name, owned string) bool {
	return len(name) == len(owned) && strings.EqualFold(strings.ReplaceAll(name, "_", "-"), owned)
}
