package proxy

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// rewrite returns the ReverseProxy's Rewrite function: the outgoing request goes to the
// upstream with the client's escaped path and query unchanged (but for the secret query
// parameters ServeHTTP removed), the upstream's Host, and none of the client's credentials.
// X-Forwarded-* headers are not added: the DBaaS Manager has no use for the address of a proxy
// on the user's own machine.
func (h *Handler) rewrite(up *url.URL) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		out := pr.Out
		out.URL.Scheme = up.Scheme
		out.URL.Host = up.Host
		// ReverseProxy re-encodes a query it cannot parse (";", a bad escape): sorted, or
		// dropped. The proxy decides nothing on the query, so it goes byte for byte.
		out.URL.RawQuery = pr.In.URL.RawQuery
		if pr.In.URL.RawPath != "" {
			out.URL.RawPath = escapedPath(pr.In) // kept as sent; see netrule.EscapedPath
		}
		out.Host = ""
		// Client credentials are stripped here, and again by the token transport on the
		// clone it sends.
		tokensource.StripCredentials(out.Header)
		tokensource.StripCredentials(out.Trailer)
	}
}

// escapedPath is the request's path in the one form the inbound policy judges and the proxy
// forwards and logs: netrule.EscapedPath.
func escapedPath(r *http.Request) string { return netrule.EscapedPath(r.URL) }

// secretQueryNames are the query parameter names, lower case with '-' for '_', that carry a
// credential (the API key or a token). They are never forwarded and never logged.
var secretQueryNames = [...]string{"api-key", "apikey", "access-token", "x-auth-token"}

// stripSecretQuery removes from q, a raw query, every parameter whose name (percent-decoded,
// compared without case and with '_' equal to '-') is a secretQueryNames entry. Parameters are
// separated by '&' or ';'; everything else stays byte for byte, each kept parameter with the
// separator that preceded it. It allocates only when it removes something.
func stripSecretQuery(q string) (string, bool) {
	if q == "" {
		return q, false
	}
	var b []byte
	removed := false
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) && q[i] != '&' && q[i] != ';' {
			continue
		}
		seg := q[start:i] // with the separator before it, except for the first
		param := seg
		if start > 0 {
			param = seg[1:]
		}
		if isSecretParam(param) {
			if !removed {
				b = append(make([]byte, 0, len(q)), q[:start]...)
				removed = true
			}
		} else if removed {
			if len(b) == 0 && start > 0 {
				seg = seg[1:] // the first kept parameter needs no separator
			}
			b = append(b, seg...)
		}
		start = i
	}
	if !removed {
		return q, false
	}
	return string(b), true
}

// isSecretParam reports whether param ("name=value" or "name") has a secret name.
func isSecretParam(param string) bool {
	name, _, _ := strings.Cut(param, "=")
	if len(name) > 32 {
		return false
	}
	if strings.ContainsAny(name, "%+") {
		if dec, err := url.QueryUnescape(name); err == nil {
			name = dec
		}
	}
	for _, s := range secretQueryNames {
		if tokensource.SameName(name, s) {
			return true
		}
	}
	return false
}
