package proxy

import (
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// rewrite returns the ReverseProxy's Rewrite function: the client's escaped path and query
// (less the secret parameters) go to the upstream's host. No X-Forwarded-* headers: the DBaaS
// Manager has no use for the address of a proxy on the user's own machine.
func (h *Handler) rewrite(up *url.URL) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		out := pr.Out
		out.URL.Scheme = up.Scheme
		out.URL.Host = up.Host
		// ReverseProxy re-encodes a query it cannot parse (";", a bad escape): sorted, or
		// dropped. The proxy decides nothing on the query, so it goes byte for byte.
		out.URL.RawQuery = pr.In.URL.RawQuery
		if pr.In.URL.RawPath != "" {
			out.URL.RawPath = netrule.EscapedPath(pr.In.URL) // the one form policy judges and logs show
		}
		out.Host = "" // client credentials: Options.Transport strips them on the clone it sends
	}
}

// secretQueryNames are the query parameter names, lower case with '-' for '_', that carry a
// credential (the API key or a token). They are never forwarded and never logged.
var secretQueryNames = [...]string{"api-key", "apikey", "access-token", "x-auth-token"}

// stripSecretQuery removes from the raw query q each parameter ('&' or ';' separated) whose
// name, decoded, without case and '_' as '-', is in secretQueryNames; the rest stays as sent.
func stripSecretQuery(q string) (string, bool) {
	var b strings.Builder
	removed, wrote := false, false
	sep := "" // the separator before param
	for rest := q; ; {
		i := strings.IndexAny(rest, "&;")
		param := rest
		if i >= 0 {
			param = rest[:i]
		}
		if isSecretParam(param) {
			removed = true
		} else {
			if wrote {
				b.WriteString(sep)
			}
			b.WriteString(param)
			wrote = true
		}
		if i < 0 {
			break
		}
		sep, rest = rest[i:i+1], rest[i+1:]
	}
	if !removed {
		return q, false
	}
	return b.String(), true
}

// isSecretParam reports whether param ("name=value" or "name") has a secret name.
func isSecretParam(param string) bool {
	name, _, _ := strings.Cut(param, "=")
	if dec, err := url.QueryUnescape(name); err == nil {
		name = dec
	}
	for _, s := range secretQueryNames {
		if tokensource.SameName(name, s) {
			return true
		}
	}
	return false
}
