package server

import (
	"net/http"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// NewExchange builds a one-off token exchange from cfg, for the token and doctor commands. It
// reads the CA file and the API key as New does. The returned func closes the transport's
// connections.
func NewExchange(cfg *config.Config, opts Options) (*tokensource.Exchange, func(), error) {
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	pool, err := ReadCA(cfg.Upstream.CAFile)
	if err != nil {
		return nil, nil, err
	}
	keys, err := newKeyStore(cfg.Auth, opts.Getenv)
	if err != nil {
		return nil, nil, err
	}
	tu, err := tokenURL(cfg.UpstreamURL(), cfg.Auth.TokenPath)
	if err != nil {
		return nil, nil, err
	}
	tr := UpstreamTransport(cfg, pool)
	ex := tokensource.NewExchange(tokensource.ExchangeOptions{
		URL:             tu,
		Client:          &http.Client{Transport: tr, Timeout: cfg.Upstream.Timeout},
		Key:             keys.Key,
		DefaultLifetime: cfg.Auth.DefaultLifetime,
		Logger:          opts.Logger,
	})
	return ex, tr.CloseIdleConnections, nil
}
