package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// routes returns the handler of requests that passed the guard (routing: see the package doc).
// Paths are judged escaped, never cleaned nor decoded: the upstream sees the client's path.
func (h *Handler) routes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if st := stateFrom(req.Context()); st != nil && h.opts.ClientName != nil {
			st.rec.ClientName = h.opts.ClientName(req.Context())
		}
		if !forwardedMethod(req.Method) {
			w.Header().Set("Allow", allowedMethods)
			jsonerr.Write(w, http.StatusMethodNotAllowed, "method not allowed: dbaas-proxy forwards only "+
				allowedMethods+"; the DBaaS Manager API uses no other method")
			return
		}
		p := netrule.EscapedPath(req.URL)
		_, rest, versioned := apiVersion(p)
		switch {
		case h.opts.Generic: // every path upstream, nothing answered here
			h.rp.ServeHTTP(w, req)
		case versioned && rest == "/auth/token":
			h.serveLocalToken(w, req)
		case tokenLookalike(p):
			jsonerr.Write(w, http.StatusBadRequest, "bad request: this path is a variant of the token endpoint, "+
				"which dbaas-proxy never forwards; call GET /api/v1/auth/token exactly (dbaas-proxy answers it "+
				"itself), or leave the token to dbaas-proxy altogether")
		case versioned && (rest == "/me" || strings.HasPrefix(rest, "/me/")):
			h.serveMe(w, req)
		case strings.HasPrefix(p, "/api/"):
			h.rp.ServeHTTP(w, req)
		default:
			jsonerr.Write(w, http.StatusNotFound,
				"not found: dbaas-proxy forwards only paths under /api/ (for example /api/v3/me/services)")
		}
	})
}

// allowedMethods lists the methods the proxy forwards, for the Allow header.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// forwardedMethod reports whether the proxy forwards method. TRACE would echo the request (the
// token included) and CONNECT open a tunnel; made-up methods mean nothing to the API.
func forwardedMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
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

// tokenLookalike reports whether the escaped path p, read the loosest way a server might
// (decoded, without case, "/" or "\" separators, "." and ".." resolved, netrule.Stem), starts
// with api/<any>/auth/token: the DBaaS Manager might answer such a path as its token endpoint.
func tokenLookalike(p string) bool {
	if dec, err := url.PathUnescape(p); err == nil {
		p = dec
	}
	p = strings.ToLower(p)
	var segs []string
	for _, s := range strings.FieldsFunc(p, func(c rune) bool { return c == '/' || c == '\\' }) {
		switch s = netrule.Stem(s); s {
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
