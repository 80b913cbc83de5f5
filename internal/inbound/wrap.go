package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
)

// verdict is a rejection: status 0 lets the request on.
type verdict struct {
	status int
	reason string // the OnReject label
	msg    string // the JSON message
}

// messages are the fixed rejection messages, built once in New.
type messages struct {
	cidr, auth, readOnly, denyPath, allowPath, clientPath, dots, ambiguous, tooLarge, overload string
}

func newMessages(cfg Config) messages {
	return messages{
		cidr: "forbidden: your address is not in inbound.allow_cidrs; ask the operator to add your network",
		auth: "unauthorized: dbaas-proxy needs a client credential: send \"Authorization: Bearer <token>\" " +
			"with a token whose SHA-256 is in inbound.clients, or connect with a client certificate " +
			"signed by inbound.tls.client_ca_file",
		readOnly:   "forbidden: this client is read-only (inbound.clients[].read_only): only GET and HEAD are allowed",
		denyPath:   "forbidden: this path is refused by inbound.deny_paths",
		allowPath:  "forbidden: this path is not allowed by inbound.allow_paths",
		clientPath: "forbidden: this path is not allowed for this client (inbound.clients[].allow_paths)",
		dots: "bad request: the path has a \".\" or \"..\" segment (literal or percent-encoded); " +
			"send the path without dot segments",
		ambiguous: "bad request: the path has \"%2F\", \"%5C\", \"\\\", \"//\" or a percent-encoded letter, " +
			"digit or \"-._~\", which the path rules (inbound.allow_paths, inbound.deny_paths, " +
			"inbound.clients[].allow_paths) cannot judge; send the path in its plain form",
		tooLarge: fmt.Sprintf("request body too large: the limit is %d bytes (inbound.max_body_bytes)", cfg.MaxBodyBytes),
		overload: "service unavailable: dbaas-proxy is serving its maximum of concurrent requests " +
			"(inbound.max_concurrent_requests); retry shortly",
	}
}

// Wrap returns a handler that runs the inbound checks on each request and passes the ones
// that survive to next, with the Authorization header removed and the client name in the
// context (ClientName) when inbound authentication is configured, and the body capped at
// max_body_bytes (reads beyond it fail with *http.MaxBytesError; report it as 413). For an
// Origin in allowed_origins it answers preflights itself (204) and sets the CORS headers on
// every answer, replacing any that next sets.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return &guarded{g: g, next: next}
}

type guarded struct {
	g    *Guard
	next http.Handler
}

func (h *guarded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := h.g
	path := escapedPath(r.URL)
	cw := g.cors(w, r)
	if cw != nil {
		w = cw
	}
	if v := g.admit(r); v.status != 0 {
		g.reject(w, r, path, v)
		return
	}
	if cw != nil && isPreflight(r) {
		g.preflight(cw, r, path)
		return
	}
	r, c, ok := g.authenticate(w, r, path)
	if !ok {
		return
	}
	if v := g.checkRequest(r, path, c); v.status != 0 {
		g.reject(w, r, path, v)
		return
	}
	if c != nil && c.bucket != nil {
		if ok, retry := c.bucket.take(g.now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			g.reject(w, r, path, verdict{http.StatusTooManyRequests, "rate", fmt.Sprintf("too many "+
				"requests: this client's limit (inbound.clients[].rate_per_second) is reached; retry after %d s", retry)})
			return
		}
	}
	hasBody := r.Body != nil && r.Body != http.NoBody
	if hasBody {
		// The body is wrapped on a copy: the server's own request must keep its body, or
		// net/http would ask for a body announced with "Expect: 100-continue" (sending 100
		// Continue) after an answer only to discard it, instead of closing the connection.
		r = r.WithContext(r.Context())
	}
	if !g.limitBody(r, w, path) {
		g.reject(w, r, path, verdict{http.StatusRequestEntityTooLarge, "body_too_large", g.msg.tooLarge})
		return
	}
	select {
	case g.sem <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		g.reject(w, r, path, verdict{http.StatusServiceUnavailable, "overload", g.msg.overload})
		return
	}
	defer func() { <-g.sem }()
	if hasBody {
		ib := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: g.limits.BodyIdleTimeout}
		defer ib.done()
		r.Body = ib
	}
	h.next.ServeHTTP(w, r)
}

// authenticate checks r's credential when inbound authentication is configured. It returns r
// with the client name in its context and without Authorization, and the client (nil for
// default rights); or, having answered 401, false.
func (g *Guard) authenticate(w http.ResponseWriter, r *http.Request, path string) (*http.Request, *client, bool) {
	if g.auth == nil {
		return r, nil, true
	}
	c, name, ok := g.auth.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dbaas-proxy"`)
		g.reject(w, r, path, verdict{http.StatusUnauthorized, "auth", g.msg.auth})
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
		return verdict{http.StatusForbidden, "cidr", g.msg.cidr}
	}
	if !g.hosts.Allow(r.Host) {
		host := r.Host
		if len(host) > 100 {
			host = host[:100] + "..."
		}
		return verdict{http.StatusForbidden, "host", fmt.Sprintf("forbidden: dbaas-proxy does not answer to "+
			"Host %q; this blocks DNS rebinding from web pages; if you reach the proxy by this name, "+
			"add it to inbound.allowed_hosts", host)}
	}
	if why, blocked := CrossSite(r, g.origins); blocked {
		return verdict{http.StatusForbidden, "cross_site", "forbidden: " + why + "; dbaas-proxy refuses " +
			"requests from web pages; add the page's origin to inbound.allowed_origins if you trust it"}
	}
	return verdict{}
}

// fromAllowedAddr reports whether remote (r.RemoteAddr) is in allow_cidrs. Unix socket peers
// ("@" or "") always are; an unparsable address never is.
func (g *Guard) fromAllowedAddr(remote string) bool {
	if len(g.cidrs) == 0 || remote == "" || remote == "@" {
		return true
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	ip := ap.Addr().WithZone("").Unmap()
	for _, p := range g.cidrs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// checkRequest runs the encoding, method and path checks for client c (nil: default rights).
func (g *Guard) checkRequest(r *http.Request, path string, c *client) verdict {
	switch {
	case hasDotSegment(path):
		return verdict{http.StatusBadRequest, "encoding", g.msg.dots}
	case g.rules && ambiguousForRules(path):
		return verdict{http.StatusBadRequest, "encoding", g.msg.ambiguous}
	}
	for _, m := range g.denyMethods {
		if strings.EqualFold(m, r.Method) {
			return verdict{http.StatusForbidden, "method", "forbidden: method " + m + " is refused by inbound.deny_methods"}
		}
	}
	if c != nil && c.readOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return verdict{http.StatusForbidden, "read_only", g.msg.readOnly}
	}
	switch {
	case matchAny(g.denyPaths, path):
		return verdict{http.StatusForbidden, "path", g.msg.denyPath}
	case len(g.allowPaths) > 0 && !matchAny(g.allowPaths, path):
		return verdict{http.StatusForbidden, "path", g.msg.allowPath}
	case c != nil && len(c.allow) > 0 && !matchAny(c.allow, path):
		return verdict{http.StatusForbidden, "path", g.msg.clientPath}
	}
	return verdict{}
}

// limitBody applies max_body_bytes: false when the declared length is over it; a body of
// unknown length is wrapped so that reading past the limit fails with *http.MaxBytesError.
func (g *Guard) limitBody(r *http.Request, w http.ResponseWriter, path string) bool {
	if g.maxBody <= 0 {
		return true
	}
	if r.ContentLength > g.maxBody {
		return false
	}
	if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, g.maxBody), report: func() {
			g.rejected(r, path, "body_too_large")
		}}
	}
	return true
}

// limitedBody reports the first read that passes the body limit.
type limitedBody struct {
	io.ReadCloser
	report   func()
	reported bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if err != nil && !b.reported && errors.As(err, &tooLarge) {
		b.reported = true
		b.report()
	}
	return n, err
}

// reject answers r with v as a JSON error.
func (g *Guard) reject(w http.ResponseWriter, r *http.Request, path string, v verdict) {
	g.rejected(r, path, v.reason)
	jsonerr.Write(w, v.status, v.msg)
}

// rejected records a rejection: OnReject and a debug line without headers or query.
func (g *Guard) rejected(r *http.Request, path, reason string) {
	if g.onReject != nil {
		g.onReject(reason)
	}
	g.log.Debug().Str("method", r.Method).Str("path", path).Str("reason", reason).Msg("inbound: request rejected")
}
