package inbound

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
)

// tlsState is one loaded set of TLS files; it is replaced whole, never changed.
type tlsState struct {
	cert   *tls.Certificate
	client *tls.Config // the per-connection config asking for client certificates; nil: none
}

// tlsFiles serves the current tlsState to handshakes.
type tlsFiles struct {
	files TLSConfig
	state atomic.Pointer[tlsState]
	base  *tls.Config
}

// newTLSFiles loads files and returns the server side of inbound TLS, or nil when files names
// no certificate.
func newTLSFiles(files TLSConfig) (*tlsFiles, error) {
	if files.CertFile == "" {
		return nil, nil
	}
	t := &tlsFiles{files: files}
	if err := t.reload(); err != nil {
		return nil, err
	}
	t.base = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: t.getCertificate,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.state.Load().client, nil
		},
	}
	return t, nil
}

func (t *tlsFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return t.state.Load().cert, nil
}

// reload reads the files and, when all load, makes them current.
func (t *tlsFiles) reload() error {
	cert, err := loadKeyPair(t.files)
	if err != nil {
		return fmt.Errorf("inbound: load inbound.tls.cert_file %q with inbound.tls.key_file %q: %w",
			t.files.CertFile, t.files.KeyFile, err)
	}
	st := &tlsState{cert: &cert}
	if ca := t.files.ClientCAFile; ca != "" {
		pem, err := files.Read("inbound.tls.client_ca_file", ca, files.MaxConfig)
		if err != nil {
			return fmt.Errorf("inbound: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("inbound: inbound.tls.client_ca_file %q: %w", ca, errNoPEM)
		}
		st.client = &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			NextProtos:   []string{"http/1.1"},
			// No resumption: a resumed session skips verification, so a client whose CA was
			// removed by Reload could come back on an old ticket.
			SessionTicketsDisabled: true,
		}
	}
	t.state.Store(st)
	return nil
}

// loadKeyPair is tls.LoadX509KeyPair through files.Read.
func loadKeyPair(f TLSConfig) (tls.Certificate, error) {
	cert, err := files.Read("inbound.tls.cert_file", f.CertFile, files.MaxConfig)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := files.Read("inbound.tls.key_file", f.KeyFile, files.MaxConfig)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(cert, key)
}

// trusted reports whether the client certificate of cs, verified at the handshake, is still
// signed by the client CA last loaded, so that a connection made before Reload removed its CA
// is not kept. Without a client certificate or client CA there is nothing to re-check.
func (t *tlsFiles) trusted(cs *tls.ConnectionState) bool {
	if t == nil || cs == nil || len(cs.PeerCertificates) == 0 || t.state.Load().client == nil {
		return true
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: t.state.Load().client.ClientCAs,
		Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

var errNoPEM = errors.New("no PEM certificate found; use the CA certificates (PEM) that sign client certificates")

// TLSConfig returns the server TLS configuration for the listener, or nil when inbound TLS is
// off. The certificate comes from GetCertificate and, with a client CA, the client-certificate
// settings from GetConfigForClient, both reading the files last loaded, so Reload affects new
// handshakes without dropping connections. Do not set Certificates on it (crypto/tls would
// prefer them). Connections that must present a client certificate negotiate HTTP/1.1 only
// and never resume a TLS session. Each call returns a new copy.
func (g *Guard) TLSConfig() *tls.Config {
	if g.tls == nil {
		return nil
	}
	return g.tls.base.Clone()
}

// Reload re-reads the certificate, key and client CA files. When any fails to load it keeps
// the ones in use and returns an error naming the path. It is safe to call at any time, e.g.
// on SIGHUP; it does nothing when inbound TLS is off.
func (g *Guard) Reload() error {
	if g.tls == nil {
		return nil
	}
	return g.tls.reload()
}
