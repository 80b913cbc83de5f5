package server

import (
	"net/http"
)

// UserAgent is the User-Agent of dbaas-proxy's own requests: dbaas-proxy/VERSION.
func UserAgent(version string) string {
	if version == "" {
		version = "dev"
	}
	return "dbaas-proxy/" + version
}

// withUserAgent returns base setting UserAgent(version) on requests that carry none.
func withUserAgent(base http.RoundTripper, version string) http.RoundTripper {
	return &userAgentTransport{base: base, ua: UserAgent(version)}
}

type userAgentTransport struct {
	base http.RoundTripper
	ua   string
}

// RoundTrip sets the User-Agent on a copy of req, if it has none, and sends it on base.
func (t *userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", t.ua)
	}
	return t.base.RoundTrip(req)
}
