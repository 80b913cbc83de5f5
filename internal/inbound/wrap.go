package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// verdict is a rejection: status 0 lets the request on.
type verdict struct {
	status int
	reason string // the OnReject label
	msg    string // the JSON message
}

const (
	msgCIDR = "forbidden: your address is not in inbound.allow_cidrs; ask the operator to add your network"
	msgAuth = "unauthorized: dbaas-proxy needs a client credential: send \"Authorization: Bearer <token>\" " +
		"with a token whose SHA-256 is in inbound.clients, or connect with a client certificate " +
		"signed by inbound.tls.client_ca_file"
	msgReadOnly   = "forbidden: this client is read-only (inbound.clients[].read_only): only GET and HEAD are allowed"
	msgDenyPath   = "forbidden: this path is refused by inbound.deny_paths"
	msgAllowPath  = "forbidden: this path is not allowed by inbound.allow_paths"
	msgClientPath = "forbidden: this path is not allowed for this client (inbound.clients[].allow_paths)"
	msgDots       = "bad request: the path has a \".\" or \"..\" segment (literal or percent-encoded); " +
		"send the path without dot segments"
	msgAmbiguous = "bad request: the path has \"%2F\", \"%5C\", \"\\\", \"//\", \"%25\", a percent-encoded " +
		"letter, digit, \"-._~\" or control character, or bytes that are not UTF-8, which the path rules " +
		"(inbound.allow_paths, inbound.deny_paths, inbound.clients[].allow_paths) cannot judge; send the path in its plain form"
	msgOverload = "service unavailable: dbaas-proxy is serving its maximum of concurrent requests " +
		"(inbound.max_concurrent_requests); retry shortly"
)

// Wrap returns a handler passing requests that survive the inbound checks to next, without
// Authorization, with ClientName in the context and the body capped at max_body_bytes (reads
// beyond fail with *http.MaxBytesError: report 413). It answers allowed origins' preflights.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, next) })
}

func (g *Guard) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	path := netrule.EscapedPath(r.URL)
	if !r.ProtoAtLeast(1, 1) && r.Body != nil && r.Body != http.NoBody {
		// net/http frames an HTTP/1.0 body by Content-Length even when Transfer-Encoding says
		// otherwise (it drops that header): a request hidden in the body must not be read next.
		w.Header().Set("Connection", "close")
	}
	cw := g.cors(w, r)
	if cw != nil {
		w = cw
	}
	if v := g.admit(r); v.status != 0 {
		g.reject(w, r, path, v)
		return
	}
	if cw != nil && r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		// A CORS preflight (cw != nil: it has an allowed Origin); other OPTIONS are forwarded.
		g.preflight(cw, r, path)
		return
	}
	r, c, ok := g.authenticate(w, r, path)
	if !ok {
		return
	}
	hasBody := r.Body != nil && r.Body != http.NoBody
	if hasBody {
		// The body is wrapped on a copy: the server's own request must keep its body, or
		// net/http would ask for a body announced with "Expect: 100-continue" (sending 100
		// Continue) after an answer only to discard it, instead of closing the connection.
		r = r.WithContext(r.Context())
	}
	v := g.checkRequest(r, path, c)
	if v.status == 0 {
		v = g.limitRate(w, c)
	}
	if v.status == 0 {
		v = g.limitBody(r, w)
	}
	if v.status != 0 {
		g.reject(w, r, path, v)
		return
	}
	select {
	case g.sem <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		g.reject(w, r, path, verdict{http.StatusServiceUnavailable, "overload", msgOverload})
		return
	}
	defer func() { <-g.sem }()
	if hasBody {
		ib := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), lim: &g.limits,
			tooLarge: func() { g.rejected(r, path, "body_too_large") }}
		defer ib.done()
		r.Body = ib
	}
	next.ServeHTTP(w, r)
}

// limitRate takes a request from client c's rate limit, if it has one.
func (g *Guard) limitRate(w http.ResponseWriter, c *client) verdict {
	if c == nil || c.bucket == nil {
		return verdict{}
	}
	if ok, retry := c.bucket.take(time.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		return verdict{http.StatusTooManyRequests, "rate", fmt.Sprintf("too many requests: this client's "+
			"limit (inbound.clients[].rate_per_second) is reached; retry after %d s", retry)}
	}
	return verdict{}
}

// authenticate checks r's credential when inbound authentication is configured: r with the
// client name in its context and without Authorization, and the client; or false after a 401.
func (g *Guard) authenticate(w http.ResponseWriter, r *http.Request, path string) (*http.Request, *client, bool) {
	auth := g.clients.Load().auth
	if auth == nil {
		return r, nil, true
	}
	c, name, ok := auth.authenticate(r)
	if !g.tls.trusted(r.TLS) {
		w.Header().Set("Connection", "close")
		ok = false
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dbaas-proxy"`)
		g.reject(w, r, path, verdict{http.StatusUnauthorized, "auth", msgAuth})
		return r, nil, false
	}
	r.Header.Del("Authorization")
	who := caller{name: name}
	if c != nil {
		who.identity = c.identity
	}
	return r.WithContext(context.WithValue(r.Context(), ctxKey{}, who)), c, true
}

// admit runs the checks that need no credential: source address, Host and browser.
func (g *Guard) admit(r *http.Request) verdict {
	if !g.fromAllowedAddr(r.RemoteAddr) {
		return verdict{http.StatusForbidden, "cidr", msgCIDR}
	}
	if !g.hosts.Allow(r.Host) {
		return verdict{http.StatusForbidden, "host", fmt.Sprintf("forbidden: dbaas-proxy does not answer to "+
			"Host \"%s\"; this blocks DNS rebinding from web pages; if you reach the proxy by this name, "+
			"add it to inbound.allowed_hosts", netrule.LogValue(r.Host))}
	}
	if why, blocked := CrossSite(r, g.cfg.AllowedOrigins); blocked {
		return verdict{http.StatusForbidden, "cross_site", "forbidden: " + why + "; dbaas-proxy refuses " +
			"requests from web pages; add the page's origin to inbound.allowed_origins if you trust it"}
	}
	return verdict{}
}

// fromAllowedAddr reports whether remote is in allow_cidrs; Unix socket peers always are.
func (g *Guard) fromAllowedAddr(remote string) bool {
	if len(g.cidrs) == 0 || remote == "" || remote == "@" {
		return true
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	ip := ap.Addr().WithZone("").Unmap()
	return slices.ContainsFunc(g.cidrs, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// checkRequest runs the encoding, method and path checks for client c (nil: default rights).
func (g *Guard) checkRequest(r *http.Request, path string, c *client) verdict {
	switch {
	case hasDotSegment(path):
		return verdict{http.StatusBadRequest, "encoding", msgDots}
	case g.clients.Load().rules && ambiguousForRules(path):
		return verdict{http.StatusBadRequest, "encoding", msgAmbiguous}
	}
	for _, method := range g.methods(r) {
		if v := g.denyMethod(method); v.status != 0 {
			return v
		}
		if c != nil && c.readOnly && method != http.MethodGet && method != http.MethodHead {
			return verdict{http.StatusForbidden, "read_only", msgReadOnly}
		}
	}
	switch {
	case matchAny(g.denyPaths, path) || len(g.denyPaths) > 0 && matchAny(g.denyPaths, netrule.LoosePath(path)):
		return verdict{http.StatusForbidden, "path", msgDenyPath}
	case len(g.allowPaths) > 0 && !matchAny(g.allowPaths, path):
		return verdict{http.StatusForbidden, "path", msgAllowPath}
	case c != nil && len(c.allow) > 0 && !matchAny(c.allow, path):
		return verdict{http.StatusForbidden, "path", msgClientPath}
	}
	return verdict{}
}

// denyMethod refuses method if deny_methods lists it.
func (g *Guard) denyMethod(method string) verdict {
	for _, m := range g.cfg.DenyMethods {
		if strings.EqualFold(m, method) {
			return verdict{http.StatusForbidden, "method", "forbidden: method " + m + " is refused by inbound.deny_methods"}
		}
	}
	return verdict{}
}

// overrideHeaders are the headers some servers obey as the request's real method.
var overrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// methods returns r's method and every method override it carries (overrideHeaders and a
// _method query parameter): each is judged as the method, since the upstream might obey it.
func (g *Guard) methods(r *http.Request) []string {
	ms := []string{r.Method}
	for _, h := range overrideHeaders {
		ms = append(ms, r.Header.Values(h)...)
	}
	if strings.Contains(r.URL.RawQuery, "_method") {
		ms = append(ms, r.URL.Query()["_method"]...)
	}
	return ms
}

// limitBody refuses a declared length over max_body_bytes and caps a body of unknown length.
func (g *Guard) limitBody(r *http.Request, w http.ResponseWriter) verdict {
	limit := g.cfg.MaxBodyBytes
	if limit > 0 && r.ContentLength > limit {
		return verdict{http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("request body too large: the limit is %d bytes (inbound.max_body_bytes)", limit)}
	}
	if limit > 0 && r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	return verdict{}
}

// reject answers r with v as a JSON error.
func (g *Guard) reject(w http.ResponseWriter, r *http.Request, path string, v verdict) {
	g.rejected(r, path, v.reason)
	jsonerr.Write(w, v.status, v.msg)
}

// rejected records a rejection: OnReject and a debug line without headers or query.
func (g *Guard) rejected(r *http.Request, path, reason string) {
	if g.opts.OnReject != nil {
		g.opts.OnReject(reason)
	}
	g.opts.Logger.Debug().Str("method", r.Method).Str("path", netrule.LogValue(path)).Str("reason", reason).Msg("inbound: request rejected")
}

// idleBody cuts a request body that sends no byte for BodyIdleTimeout, by a read deadline set
// before each read (os.ErrDeadlineExceeded: the proxy answers 408), and, from rateWindow after
// its first byte, one slower than MinBodyRate, with a past deadline so net/http closes the
// connection. The transport may read the body on one goroutine and close it on another.
type idleBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	lim      *Limits
	tooLarge func()    // nil once called
	first    time.Time // of the first byte; Read runs on one goroutine at a time
	n        int64     // bytes read

	mu  sync.Mutex // held while setting a deadline, never during a read
	off bool       // no more deadlines: not supported, or the body is done
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if !b.off {
		if err := b.rc.SetReadDeadline(time.Now().Add(b.lim.BodyIdleTimeout)); errors.Is(err, http.ErrNotSupported) {
			b.off = true
		}
	}
	b.mu.Unlock()
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.stop(time.Time{})
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok && b.tooLarge != nil {
		b.tooLarge()
		b.tooLarge = nil
	}
	if now := time.Now(); n > 0 && b.first.IsZero() {
		b.first = now
	} else if d := now.Sub(b.first); err == nil && !b.first.IsZero() && d > b.lim.rateWindow &&
		float64(b.n+int64(n)) < float64(b.lim.MinBodyRate)*d.Seconds() {
		b.stop(now) // net/http fails to discard the rest and closes the connection
		return n, errTooSlow
	}
	b.n += int64(n)
	return n, err
}

var errTooSlow = fmt.Errorf("inbound: the request body arrives slower than inbound.min_body_rate: %w", os.ErrDeadlineExceeded)

// Close closes the body, then clears the deadline, so net/http's discard cannot wait forever.
func (b *idleBody) Close() error {
	err := b.ReadCloser.Close()
	b.stop(time.Time{})
	return err
}

// done is called when the request is answered: a last deadline, idle ahead, is kept so that
// net/http's discard of the body's rest cannot wait forever on a stalled client.
func (b *idleBody) done() { b.stop(time.Now().Add(b.lim.BodyIdleTimeout)) }

// stop stops setting deadlines and sets the last one, once; zero removes the one set.
func (b *idleBody) stop(last time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.off {
		b.off = true
		_ = b.rc.SetReadDeadline(last)
	}
}
