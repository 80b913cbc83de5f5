package proxy

import (
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// rewrite returns the ReverseProxy's Rewrite function: the outgoing request goes to the
// upstream with the client's escaped path and query unchanged (but for the secret query
// parameters ServeHTTP removed) and the upstream's Host.
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
			out.URL.RawPath = netrule.EscapedPath(pr.In.URL) // the one form policy judges and logs show
		}
		out.Host = "" // client credentials: Options.Transport strips them on the clone it sends
	}
}

// secretQueryNames are the query parameter names, lower case with '-' for '_', that carry a
// credential (the API key or a token). They are never forwarded and never logged.
var secretQueryNames = [...]string{"api-key", "apikey", "access-token", "x-auth-token"}

// stripSecretQuery removes from q, a raw query, every parameter whose name (percent-decoded,
// compared without case and with '_' equal to '-') is a secretQueryNames entry. Parameters are
// separated by '&' or ';'; everything else stays byte for byte, each kept parameter with the
// separator that preceded it.
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
