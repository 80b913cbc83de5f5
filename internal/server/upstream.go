package server

import (
	"crypto/x509"
	"fmt"
	"net/url"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// upstreamOptions are the upstream transport's options from cfg, trusting pool.
func upstreamOptions(cfg *config.Config, pool *x509.CertPool) upstream.Options {
	u := cfg.Upstream
	return upstream.Options{
		CAPool: pool, ServerName: u.ServerName, HTTP1Only: !u.HTTP2, Timeout: u.Timeout,
		MaxConns: u.MaxConns, MaxIdleConns: u.MaxIdleConns, IdleTimeout: u.IdleTimeout, Pins: u.Pins,
		ProxyURL: cfg.UpstreamProxy(),
	}
}

// UpstreamTransport returns the pooled, CA-pinned transport to the DBaaS Manager for cfg,
// trusting pool: what the server uses, for the token and doctor commands.
func UpstreamTransport(cfg *config.Config, pool *x509.CertPool) (*upstream.Transport, error) {
	return upstream.New(upstreamOptions(cfg, pool))
}

// tokenURL is the token endpoint's URL.
func tokenURL(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("upstream.url: %w", err)
	}
	u.Path = path
	return u.String(), nil
}
