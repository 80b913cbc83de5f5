package server

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// NewTokenSource builds the uncached token source that auth.source names, for the token and
// doctor commands: it reads the CA files and (except for trusted_profile) the API key as New
// does, and uses the same source New does. The returned func closes the transports'
// connections.
func NewTokenSource(cfg *config.Config, opts Options) (tokensource.Source, func(), error) {
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	pool, err := upstream.ReadCA(cfg.Upstream.CAFile)
	if err != nil {
		return nil, nil, err
	}
	keys, err := newCredentials(cfg, opts.Getenv)
	if err != nil {
		return nil, nil, err
	}
	up, err := UpstreamTransport(cfg, pool)
	if err != nil {
		return nil, nil, err
	}
	var iam *http.Transport
	if cfg.Auth.UsesIAM() {
		if iam, err = IAMTransport(cfg); err != nil {
			return nil, nil, err
		}
	}
	var iamRT http.RoundTripper
	if iam != nil {
		iamRT = iam
	}
	src, err := newSource(cfg, up, iamRT, keys, opts)
	if err != nil {
		return nil, nil, err
	}
	return src, func() {
		up.CloseIdleConnections()
		if iam != nil {
			iam.CloseIdleConnections()
		}
	}, nil
}

// newCredentials loads the API key (auth.api_key_file or DBAAS_API_KEY), or returns nil for
// auth.source trusted_profile, which uses none: no key is looked for, so none can be missing.
func newCredentials(cfg *config.Config, getenv func(string) string) (*keyStore, error) {
	if cfg.Auth.Source == config.SourceTrustedProfile {
		return nil, nil
	}
	return newKeyStore(cfg.Auth, getenv)
}

// newSource builds the uncached source of auth.source: the DBaaS exchange over upstream, or
// the IAM exchange (API key or trusted profile) over iam. keys is nil for trusted_profile.
func newSource(cfg *config.Config, upstream, iam http.RoundTripper, keys *keyStore, opts Options) (tokensource.Source, error) {
	a, log := cfg.Auth, opts.Logger
	if !a.UsesIAM() {
		tu, err := tokenURL(cfg.UpstreamURL(), a.TokenPath)
		if err != nil {
			return nil, err
		}
		return tokensource.NewExchange(tokensource.ExchangeOptions{
			URL:             tu,
			Client:          &http.Client{Transport: WithUserAgent(upstream, opts.Version), Timeout: cfg.Upstream.Timeout},
			Key:             keys.Key,
			DefaultLifetime: a.DefaultLifetime,
			Logger:          log,
		}), nil
	}
	io := tokensource.IAMOptions{
		URL:             a.IAMURL,
		Client:          &http.Client{Transport: WithUserAgent(iam, opts.Version), Timeout: cfg.Upstream.Timeout},
		CRTokenFile:     a.CRTokenFile,
		ProfileID:       a.ProfileID,
		ProfileName:     a.ProfileName,
		AccountID:       a.AccountID,
		DefaultLifetime: a.DefaultLifetime,
		Logger:          log,
	}
	if a.Source == config.SourceTrustedProfile {
		return tokensource.NewTrustedProfile(io), nil
	}
	io.Key = keys.Key
	return tokensource.NewIAM(io), nil
}

// IAMTransport returns the transport to IBM Cloud IAM. IAM is not behind the DBaaS Manager's
// CA: it is verified against the system roots, or against auth.iam_ca_file alone when set.
func IAMTransport(cfg *config.Config) (*http.Transport, error) {
	var pool *x509.CertPool // nil: the system roots
	if f := cfg.Auth.IAMCAFile; f != "" {
		var err error
		if pool, err = upstream.ReadPEMPool("auth.iam_ca_file", f); err != nil {
			return nil, err
		}
	}
	return &http.Transport{
		Proxy:                 nil, // like the upstream: directly, or through upstream.proxy_url
		DialContext:           upstream.Dialer(cfg.UpstreamProxy()),
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Upstream.Timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
	}, nil
}

// credentialSource says what the token is obtained with, for a log line; never a secret.
func (a *Server) credentialSource() string {
	if a.keys == nil {
		return "the trusted profile's compute resource token"
	}
	return a.keys.source()
}

// swapTransport is the IAM transport that a reload can replace (a new auth.iam_ca_file)
// without dropping requests in flight: new requests take the new transport, the old one's
// idle connections are closed.
type swapTransport struct {
	cur atomic.Pointer[http.Transport]
}

func newSwapTransport(t *http.Transport) *swapTransport {
	s := &swapTransport{}
	s.cur.Store(t)
	return s
}

// RoundTrip sends req on the current transport.
func (s *swapTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return s.cur.Load().RoundTrip(req)
}

// swap installs t and retires the previous transport.
func (s *swapTransport) swap(t *http.Transport) {
	if old := s.cur.Swap(t); old != nil {
		old.CloseIdleConnections()
	}
}

// close closes the current transport's idle connections.
func (s *swapTransport) close() { s.cur.Load().CloseIdleConnections() }
