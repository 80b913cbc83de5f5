package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
)

// ReadCA reads the CA file: PEM, one or more certificates. It is the upstream's only trust
// anchor; the system roots are never used. Errors name the path.
func ReadCA(path string) (*x509.CertPool, error) { return readPEMPool("upstream.ca_file", path) }

// readPEMPool reads the CA file of the config key key; errors name the key and the path.
func readPEMPool(key, path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read %s: %w", key, path, errors.Unwrap(err))
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: certificate %d cannot be parsed: %w", key, path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", key, path)
	}
	return pool, nil
}

// upstreamTLS is the TLS configuration for the DBaaS Manager: only the CA file's certificates
// are trusted, TLS 1.2 at least, and serverName (if set) is the name checked.
func upstreamTLS(pool *x509.CertPool, serverName string, http2 bool) *tls.Config {
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: serverName}
	if http2 {
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	return c
}

// UpstreamTransport returns the pooled transport to the DBaaS Manager. The pool is sized
// for bursts: net/http's default of 2 idle connections per host would make every burst pay
// for new TLS handshakes. Compression is left to the client and the upstream, so that bytes
// pass unchanged.
func UpstreamTransport(cfg *config.Config, pool *x509.CertPool) *http.Transport {
	idle := cfg.Upstream.MaxIdleConns
	if idle <= 0 {
		idle = 256
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil, // the upstream is reached directly: no HTTPS_PROXY surprise
		DialContext:           d.DialContext,
		TLSClientConfig:       upstreamTLS(pool, cfg.Upstream.ServerName, cfg.Upstream.HTTP2),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Upstream.Timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          idle,
		MaxIdleConnsPerHost:   idle,
		DisableCompression:    true,
		ForceAttemptHTTP2:     cfg.Upstream.HTTP2,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
	return t
}

// swapTransport is the upstream transport that SIGHUP can replace (a new CA file) without
// dropping requests in flight: new requests take the new transport, the old one's idle
// connections are closed.
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

// tokenURL is the token endpoint's URL.
func tokenURL(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("upstream.url: %w", err)
	}
	u.Path = path
	return u.String(), nil
}
