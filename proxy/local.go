package proxy

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// serveLocalToken answers legacy tools' token exchange: the real user id and a placeholder token
// the proxy replaces on every forwarded request. The tool's api_key is neither checked nor sent.
func (h *Handler) serveLocalToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		jsonerr.Write(w, http.StatusMethodNotAllowed,
			"method not allowed: the token endpoint answers GET (dbaas-proxy answers it itself)")
		return
	}
	tok, err := h.opts.Transport.CacheFor(r.Context()).Token(r.Context())
	if err != nil {
		h.serveError(w, r, err)
		return
	}
	b, _ := json.Marshal(map[string]string{ // the DBaaS Manager's shape: {"access_token","user_id"}
		"access_token": placeholderToken(tok.UserID, tok.IssuedAt.Unix(), tok.Expiry.Unix()),
		"user_id":      tok.UserID,
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// placeholderPrefix starts every placeholder token the local token endpoint hands out.
const placeholderPrefix = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." // {"alg":"none","typ":"JWT"}

// placeholderToken is an unsigned JWT-shaped stand-in for the access token with the real exp,
// for tools that read it; it holds no secret and is worthless outside the proxy.
func placeholderToken(userID string, iat, exp int64) string {
	payload, _ := json.Marshal(map[string]any{
		"iss": "dbaas-proxy", "sub": "placeholder: dbaas-proxy attaches the real token",
		"iat": iat, "exp": exp, "account": map[string]string{"bss": userID},
	})
	return placeholderPrefix + base64.RawURLEncoding.EncodeToString(payload) + ".placeholder"
}

// serveMe rewrites /api/v{N}/me/... to /api/v{N}/<user_id>/... and forwards it.
func (h *Handler) serveMe(w http.ResponseWriter, r *http.Request) {
	tok, err := h.opts.Transport.CacheFor(r.Context()).Token(r.Context())
	if err != nil {
		h.serveError(w, r, err)
		return
	}
	if !plainSegment(tok.UserID) {
		jsonerr.Write(w, http.StatusBadGateway,
			"bad gateway: the token endpoint returned no usable user id, so /me/ cannot be rewritten; use the account id in the path")
		return
	}
	version, rest, _ := apiVersion(netrule.EscapedPath(r.URL))
	path := "/api/" + version + "/" + tok.UserID + strings.TrimPrefix(rest, "/me")
	p, err := url.PathUnescape(path)
	if err != nil {
		jsonerr.Write(w, http.StatusBadRequest, "bad request: the path is not validly escaped")
		return
	}
	r = r.Clone(r.Context())
	r.URL.Path, r.URL.RawPath = p, path // RawPath keeps the escapes exactly as the client sent them
	if st := stateFrom(r.Context()); st != nil {
		st.rec.Template = template(path)
	}
	h.rp.ServeHTTP(w, r)
}

// plainSegment reports whether id can stand as one path segment as it is: RFC 3986 unreserved
// characters only, not "." or ".."; anything else would change the rewritten path's meaning.
func plainSegment(id string) bool {
	const unreserved = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
	return id != "." && id != ".." && id != "" && strings.Trim(id, unreserved) == ""
}
