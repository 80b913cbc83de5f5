package server

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// identity is one token cache: an identity at one token endpoint, with a transport of its own.
type identity struct {
	key    string              // the identity's name and token endpoint
	cfg    *config.Config      // the first route using it, with the identity's auth
	keys   *keyStore           // nil but for auth.source dbaas and iam
	crEnv  bool                // the CR token comes from IBMCLOUD_CR_TOKEN
	tr     *upstream.Transport // the token exchanges only
	pins   []string            // tr's: upstream.pins for the DBaaS exchange, none for IAM
	tokens *tokensource.Cached
}

// identity returns rc's identity cache, built on first use, shared by identity and endpoint.
func (a *Server) identity(rc *config.Config) (*identity, error) {
	key, metered := rc.IdentityName+" "+rc.TokenEndpoint(), false
	for _, id := range a.identities {
		if id.key == key {
			return id, nil
		}
		metered = metered || id.cfg.IdentityName == rc.IdentityName
	}
	name := rc.IdentityName
	id, src, err := newIdentity(rc, a.opts)
	if err != nil {
		if name != config.DefaultName {
			err = fmt.Errorf("identity %s: %w", name, err)
		}
		return nil, err
	}
	id.tokens = tokensource.NewCached(src, tokensource.CachedOptions{
		Logger:             a.log.With().Str("identity", name).Logger(),
		MinRefreshInterval: rc.Auth.MinRefreshInterval,
		ExchangeTimeout:    rc.Auth.Timeout,
		OnSuppressed:       func(cause string) { a.metrics.TokenSuppressed(name, cause) },
		OnExchange: func(_ tokensource.Token, err error) {
			a.metrics.TokenExchange(name, rc.Auth.Source, err)
		},
	})
	if !metered { // one expiry series per identity: its first token endpoint's
		a.metrics.AddIdentity(name, rc.Auth.Source, id.tokens.Status)
	}
	id.key = key
	a.identities = append(a.identities, id)
	return id, nil
}

// newIdentity reads rc's credentials and token CA and builds its uncached token source.
func newIdentity(rc *config.Config, opts Options) (id *identity, src tokensource.Source, err error) {
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	id = &identity{cfg: rc, crEnv: opts.Getenv(crTokenEnv) != ""}
	if s := rc.Auth.Source; s == config.SourceDBaaS || s == config.SourceIAM {
		if id.keys, err = newKeyStore(rc.Auth, opts.Getenv); err != nil {
			return nil, nil, err
		}
	}
	pool, err := tokenCA(rc)
	if err != nil {
		return nil, nil, err
	}
	o := rc.UpstreamOptions(pool)
	o.MaxConns, o.Timeout, o.HTTP1Only = 2, rc.Auth.Timeout, true
	if rc.Auth.Source != config.SourceDBaaS { // IAM: not the upstream's name or pins
		o.ServerName, o.Pins = "", nil
	}
	id.pins = o.Pins
	if id.tr, err = upstream.New(o); err != nil {
		return nil, nil, err
	}
	src, err = newSource(rc, id.tr, id.keys, opts)
	return id, src, err
}

// tokenCA is what the token endpoint is verified against: the upstream's CA file for the DBaaS
// exchange; for IAM, auth.iam_ca_file alone when set, else the system roots.
func tokenCA(rc *config.Config) (*x509.CertPool, error) {
	switch {
	case rc.Auth.Source == config.SourceDBaaS:
		return upstream.ReadCA(rc.Upstream.CAFile)
	case rc.Auth.IAMCAFile != "":
		return upstream.ReadPEMPool("auth.iam_ca_file", rc.Auth.IAMCAFile)
	}
	return x509.SystemCertPool()
}

// NewTokenSource builds the uncached token source of route rc (a Config without routes is its
// default route) for the token and doctor commands; the func closes its connections.
func NewTokenSource(rc *config.Config, opts Options) (tokensource.Source, func(), error) {
	if rc.RouteName == "" {
		rc = rc.RouteConfigs()[0]
	}
	id, src, err := newIdentity(rc, opts)
	if err != nil {
		return nil, nil, err
	}
	return src, id.tr.CloseIdleConnections, nil
}

// newSource builds the uncached source of auth.source; the metadata service gets a direct
// transport of its own (never a proxy: it is link-local). keys is nil but for dbaas and iam.
func newSource(cfg *config.Config, tr http.RoundTripper, keys *keyStore, opts Options) (tokensource.Source, error) {
	a, log := cfg.Auth, opts.Logger
	io := tokensource.IAMOptions{
		URL:             a.IAMURL,
		Client:          &http.Client{Transport: withUserAgent(tr, opts.Version), Timeout: a.Timeout},
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
		io.Client = &http.Client{Timeout: a.Timeout, Transport: withUserAgent(&http.Transport{DisableKeepAlives: true}, opts.Version)}
		return tokensource.NewVPC(io), nil
	case config.SourceCommand:
		return tokensource.NewCommand(a.TokenCommand, io), nil
	}
	tu, err := url.JoinPath(cfg.UpstreamURL(), a.TokenPath)
	if err != nil {
		return nil, err
	}
	return tokensource.NewExchange(tokensource.ExchangeOptions{
		URL:             tu,
		Client:          &http.Client{Transport: withUserAgent(tr, opts.Version), Timeout: a.Timeout},
		Key:             keys.Key,
		DefaultLifetime: a.DefaultLifetime,
		Logger:          log,
	}), nil
}

// crTokenEnv is the IBM Cloud CLI's variable for the CR token (the token, or @FILE).
const crTokenEnv = "IBMCLOUD_CR_TOKEN"

// credentialSource says what the token is obtained with, for a log line; never a secret.
func (id *identity) credentialSource() string {
	auth := id.cfg.Auth
	switch {
	case id.keys != nil:
		return id.keys.source()
	case auth.Source == config.SourceVPC:
		return "the VPC metadata service " + auth.MetadataURL
	case auth.Source == config.SourceCommand:
		return "command " + filepath.Base(auth.TokenCommand[0]) + " (auth.token_command)"
	case auth.CRTokenFile == "" && id.crEnv:
		return "environment variable " + crTokenEnv
	}
	return "the trusted profile's compute resource token"
}
