package server

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"strings"
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

// newCredentials loads the API key, or returns nil for the sources that use none
// (trusted_profile, vpc, command): no key is looked for, so none can be missing.
func newCredentials(cfg *config.Config, getenv func(string) string) (*keyStore, error) {
	if s := cfg.Auth.Source; s != config.SourceDBaaS && s != config.SourceIAM {
		return nil, nil
	}
	return newKeyStore(cfg.Auth, getenv)
}

// newSource builds the uncached source of auth.source: the DBaaS exchange over upstream, the
// IAM exchange (API key, assume grant or trusted profile) over iam, the metadata service
// over a direct transport of its own (never a proxy: it is link-local), or the token command.
// keys is nil but for dbaas and iam.
func newSource(cfg *config.Config, upstream, iam http.RoundTripper, keys *keyStore, opts Options) (tokensource.Source, error) {
	a, log := cfg.Auth, opts.Logger
	io := tokensource.IAMOptions{
		URL:             a.IAMURL,
		Client:          &http.Client{Transport: WithUserAgent(iam, opts.Version), Timeout: cfg.Upstream.Timeout},
		CRTokenFile:     a.CRTokenFile,
		ProfileID:       a.ProfileID,
		ProfileCRN:      a.ProfileCRN,
		ProfileName:     a.ProfileName,
		AccountID:       a.AccountID,
		DefaultLifetime: a.DefaultLifetime,
		Logger:          log,
	}
	switch a.Source {
	case config.SourceIAM:
		io.Key = keys.Key
		return tokensource.NewIAM(io), nil
	case config.SourceTrustedProfile:
		if cr := opts.Getenv(crTokenEnv); io.CRTokenFile == "" && strings.HasPrefix(cr, "@") {
			io.CRTokenFile = cr[1:]
		} else if io.CRTokenFile == "" {
			io.CRToken = strings.TrimSpace(cr)
		}
		return tokensource.NewTrustedProfile(io), nil
	case config.SourceVPC:
		io.URL = a.MetadataURL
		io.Client = &http.Client{Timeout: cfg.Upstream.Timeout, Transport: WithUserAgent(&http.Transport{DisableKeepAlives: true}, opts.Version)}
		return tokensource.NewVPC(io), nil
	case config.SourceCommand:
		return tokensource.NewCommand(a.TokenCommand, io), nil
	}
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

// crTokenEnv is the IBM Cloud CLI's variable for the CR token (the token, or @FILE), used by
// auth.source trusted_profile when auth.cr_token_file is "".
const crTokenEnv = "IBMCLOUD_CR_TOKEN"

// credentialSource says what the token is obtained with, for a log line; never a secret.
func (a *Server) credentialSource() string {
	auth := a.cfg.Auth
	switch cr := a.opts.Getenv(crTokenEnv); {
	case a.keys != nil:
		return a.keys.source()
	case auth.Source == config.SourceVPC:
		return "the VPC metadata service " + auth.MetadataURL
	case auth.Source == config.SourceCommand:
		return "command " + filepath.Base(auth.TokenCommand[0]) + " (auth.token_command)"
	case auth.CRTokenFile == "" && cr != "":
		return "environment variable " + crTokenEnv
	}
	return "the trusted profile's compute resource token"
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
