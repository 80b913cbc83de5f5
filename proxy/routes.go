package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
)

// routes builds the router: methods the API does not use are refused, and the paths the
// proxy forwards (under /api/, none of the local routes below) go straight to the
// ReverseProxy, checked with a few string tests on the escaped path; only the rest reaches
// the router of the local routes, which answers the token endpoint, refuses look-alikes of it,
// rewrites /me/ and answers 404 to everything else. Neither cleans nor decodes paths: the
// upstream sees exactly the path the client sent.
func (h *Handler) routes() http.Handler {
	local := mux.NewRouter().SkipClean(true).UseEncodedPath()
	local.MatcherFunc(matchTokenPath).HandlerFunc(h.serveLocalToken)
	local.MatcherFunc(matchTokenLookalike).HandlerFunc(serveTokenLookalike)
	local.MatcherFunc(matchMePath).HandlerFunc(h.serveMe)
	local.NotFoundHandler = http.HandlerFunc(serveNotFound)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !forwardedMethod(req.Method) {
			w.Header().Set("Allow", allowedMethods)
			jsonerr.Write(w, http.StatusMethodNotAllowed, "method not allowed: dbaas-proxy forwards only "+
				allowedMethods+"; the DBaaS Manager API uses no other method")
			return
		}
		if h.opts.Generic || forwarded(escapedPath(req)) {
			h.forward(w, req)
			return
		}
		local.ServeHTTP(w, req)
	})
}

// forwarded reports whether the escaped path p goes straight upstream: under /api/, and
// matched by none of the local routes (the token endpoint, its look-alikes, /me/).
func forwarded(p string) bool {
	if !strings.HasPrefix(p, "/api/") || tokenLookalike(p) {
		return false
	}
	_, rest, ok := apiVersion(p)
	return !ok || !isTokenRest(rest) && !isMeRest(rest)
}

// allowedMethods lists the methods the proxy forwards, for the Allow header.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// forwardedMethod reports whether method is one the proxy forwards. TRACE would echo the
// request (the token included, were it forwarded) and CONNECT would open a tunnel; made-up
// methods have no meaning to the API.
func forwardedMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// nameClient records the client's name, which the guard put into the context of the request
// it let through, for the access log.
func (h *Handler) nameClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec := recordFrom(r.Context()); rec != nil {
			rec.ClientName = h.opts.ClientName(r.Context())
		}
		next.ServeHTTP(w, r)
	})
}

func serveNotFound(w http.ResponseWriter, _ *http.Request) {
	jsonerr.Write(w, http.StatusNotFound,
		"not found: dbaas-proxy forwards only paths under /api/ (for example /api/v3/me/services)")
}

// apiVersion returns the version segment ("v3") and the rest of the path after it
// ("/auth/token") when path is /api/v{N}/..., else ok is false.
func apiVersion(path string) (version, rest string, ok bool) {
	p, found := strings.CutPrefix(path, "/api/v")
	if !found {
		return "", "", false
	}
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	if i == 0 || (i < len(p) && p[i] != '/') {
		return "", "", false
	}
	const vAt = len("/api/") // version is a slice of path: no allocation
	return path[vAt : vAt+1+i], p[i:], true
}

// matchTokenPath matches /api/v{N}/auth/token, any method: the proxy answers it itself.
func matchTokenPath(r *http.Request, _ *mux.RouteMatch) bool {
	_, rest, ok := apiVersion(escapedPath(r))
	return ok && isTokenRest(rest)
}

// matchMePath matches /api/v{N}/me and /api/v{N}/me/...
func matchMePath(r *http.Request, _ *mux.RouteMatch) bool {
	_, rest, ok := apiVersion(escapedPath(r))
	return ok && isMeRest(rest)
}

// isTokenRest reports whether rest, the path after /api/v{N}, is the token endpoint's.
func isTokenRest(rest string) bool { return rest == "/auth/token" }

// isMeRest reports whether rest, the path after /api/v{N}, is /me or under /me/.
func isMeRest(rest string) bool { return rest == "/me" || strings.HasPrefix(rest, "/me/") }

// matchTokenLookalike matches paths that a server could read as the token endpoint but that
// are not its exact form (matchTokenPath): another case, an escape, a doubled or final slash,
// a ";" parameter, a dot segment, any version segment, or more below it. They are refused and
// never forwarded, since the DBaaS Manager might answer one as its token endpoint.
func matchTokenLookalike(r *http.Request, _ *mux.RouteMatch) bool {
	return tokenLookalike(escapedPath(r))
}

// tokenLookalike reports whether the escaped path p, read the loosest way a server might
// (percent-decoded, without case, "/" and "\" both separators, empty and "." segments dropped,
// ".." resolved, ";..." cut from each segment), starts with api/<any>/auth/token.
func tokenLookalike(p string) bool {
	if !strings.Contains(strings.ToLower(p), "auth") && !strings.Contains(p, "%") {
		return false // the common case, without allocating
	}
	if dec, err := url.PathUnescape(p); err == nil {
		p = dec
	}
	p = strings.ToLower(p)
	var segs []string
	for _, s := range strings.FieldsFunc(p, func(c rune) bool { return c == '/' || c == '\\' }) {
		s, _, _ = strings.Cut(s, ";")
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	return len(segs) >= 4 && segs[0] == "api" && segs[2] == "auth" && segs[3] == "token"
}

func serveTokenLookalike(w http.ResponseWriter, _ *http.Request) {
	jsonerr.Write(w, http.StatusBadRequest, "bad request: this path is a variant of the token endpoint, "+
		"which dbaas-proxy never forwards; call GET /api/v1/auth/token exactly (dbaas-proxy answers it "+
		"itself), or leave the token to dbaas-proxy altogether")
}
