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
	tr, err := UpstreamTransport(cfg, pool)
	if err != nil {
		return nil, nil, err
	}
	ex := tokensource.NewExchange(tokensource.ExchangeOptions{
		URL:             tu,
		Client:          &http.Client{Transport: WithUserAgent(tr, opts.Version), Timeout: cfg.Upstream.Timeout},
		Key:             keys.Key,
		DefaultLifetime: cfg.Auth.DefaultLifetime,
		Logger:          opts.Logger,
	})
	return ex, tr.CloseIdleConnections, nil
}

// UserAgent is the User-Agent of the requests dbaas-proxy makes itself (the token exchange,
// doctor's call): dbaas-proxy/VERSION.
func UserAgent(version string) string {
	if version == "" {
		version = "dev"
	}
	return "dbaas-proxy/" + version
}

// WithUserAgent returns base setting User-Agent: UserAgent(version) on each request that
// carries none.
func WithUserAgent(base http.RoundTripper, version string) http.RoundTripper {
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
