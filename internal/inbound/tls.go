package inbound

import (
	"crypto/tls"
	"crypto/x509"
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

// newTLSFiles loads files for inbound TLS; nil when files names no certificate.
func newTLSFiles(files TLSConfig) (*tlsFiles, error) {
	if files.CertFile == "" {
		return nil, nil
	}
	t := &tlsFiles{files: files}
	if err := t.reload(); err != nil {
		return nil, err
	}
	t.base = &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return t.state.Load().cert, nil
		},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.state.Load().client, nil
		},
	}
	return t, nil
}

// reload reads the files and, when all load, makes them current.
func (t *tlsFiles) reload() error {
	certPEM, err := files.Read("inbound.tls.cert_file", t.files.CertFile, files.MaxConfig)
	if err != nil {
		return fmt.Errorf("inbound: %w", err)
	}
	keyPEM, err := files.Read("inbound.tls.key_file", t.files.KeyFile, files.MaxConfig)
	if err != nil {
		return fmt.Errorf("inbound: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
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
			return fmt.Errorf("inbound: inbound.tls.client_ca_file %q: no PEM certificate found; use the CA "+
				"certificates (PEM) that sign client certificates", ca)
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

// trusted reports whether cs's verified client certificate is still signed by the client CA
// last loaded, so a connection made before Reload removed its CA is not kept.
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

// Reload re-reads the inbound TLS files; on a failure it keeps those in use (error names the path).
func (g *Guard) Reload() error {
	if g.tls == nil {
		return nil
	}
	return g.tls.reload()
}
