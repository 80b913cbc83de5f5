package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// peerChain is the certificate chain the upstream sends, for doctor and pins.
type peerChain struct {
	host  string // HOST:PORT dialled
	name  string // the name the chain must be valid for: upstream.server_name, else the URL's host
	state tls.ConnectionState
}

// dialChain connects to the upstream of cfg without verifying its certificate, so that the
// chain can be shown even when it does not verify; verify checks it afterwards.
func dialChain(ctx context.Context, cfg *config.Config) (*peerChain, error) {
	u, err := url.Parse(cfg.UpstreamURL())
	if err != nil {
		return nil, fmt.Errorf("upstream.url: %w", err)
	}
	pc := &peerChain{host: u.Host, name: cfg.Upstream.ServerName}
	if u.Port() == "" {
		pc.host = net.JoinHostPort(u.Hostname(), "443")
	}
	if pc.name == "" {
		pc.name = u.Hostname()
	}
	raw, err := upstream.Dialer(cfg.UpstreamProxy())(ctx, "tcp", pc.host) // through upstream.proxy_url, as the proxy
	if err != nil {
		return nil, err
	}
	// The SNI is what the transport sends: upstream.server_name when set, else the URL's host.
	conn := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, //nolint:gosec // verified by verify
		ServerName: pc.name})
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	pc.state = conn.ConnectionState()
	return pc, nil
}

// verify checks the chain against pool for pc.name, as the transport does, and returns the chains.
func (pc *peerChain) verify(pool *x509.CertPool) ([][]*x509.Certificate, error) {
	certs := pc.state.PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s sent no certificate", pc.host)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	return certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: pc.name})
}

// caName names the chain's trust anchor: upstream.ca_file, or the system roots without one.
func caName(cfg *config.Config) string {
	if cfg.Upstream.CAFile == "" {
		return "the system roots"
	}
	return cfg.Upstream.CAFile
}
