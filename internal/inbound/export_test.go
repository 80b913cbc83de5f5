package inbound

import (
	"crypto/tls"
	"net/http"
	"net/url"

	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// escapedPath is the path the rules judge, for tests.
func escapedPath(u *url.URL) string { return netrule.EscapedPath(u) }

// TLSConfig is the listener's TLS configuration as ConfigureServer sets it.
func (g *Guard) TLSConfig() *tls.Config {
	var srv http.Server
	g.ConfigureServer(&srv)
	return srv.TLSConfig
}
