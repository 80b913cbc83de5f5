package upstream

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pki is a test CA and a leaf certificate for 127.0.0.1 that it signed.
type pki struct {
	pool   *x509.CertPool
	ca     *x509.Certificate
	leaf   tls.Certificate
	leafCA *x509.Certificate // the parsed leaf
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "upstream"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{pool: pool, ca: ca, leafCA: leaf,
		leaf: tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key, Leaf: leaf}}
}

// server is a real TLS server on 127.0.0.1 that can be stopped and restarted on its address.
// It counts the connections it accepted and notes each connection's state changes.
type server struct {
	t        testing.TB
	p        *pki
	h        http.Handler
	http2    bool
	addr     string
	idle     time.Duration // the http.Server's IdleTimeout; zero: none
	accepted atomic.Int64
	closedN  atomic.Int64  // connections the server closed
	closed   chan struct{} // one value per connection the server closed (buffered)

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

func newServer(t testing.TB, p *pki, h http.Handler, http2 bool, idle time.Duration) *server {
	t.Helper()
	s := &server{t: t, p: p, h: h, http2: http2, idle: idle, addr: "127.0.0.1:0", closed: make(chan struct{}, 4096)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) url() string { return "https://" + s.addr }

// start listens on the server's address (a new port the first time) and serves.
func (s *server) start() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("listen %s: %v", s.addr, err)
	}
	if a := ln.Addr().String(); a != s.addr { // the first start: a new port
		s.addr = a
	}
	srv := &http.Server{
		Handler:     s.h,
		IdleTimeout: s.idle,
		TLSConfig:   &tls.Config{Certificates: []tls.Certificate{s.p.leaf}, MinVersion: tls.VersionTLS12},
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.accepted.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.closedN.Add(1)
				select {
				case s.closed <- struct{}{}:
				default:
				}
			}
		},
		ErrorLog: log.New(io.Discard, "", 0), // handshakes cut short by the tests are expected
	}
	if !s.http2 {
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.ServeTLS(ln, "", "")
	}()
}

// stop closes the listener and every connection (callers stop it between requests: Shutdown
// would wait 5 s for connections the client dialed but has not used yet).
func (s *server) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	s.wg.Wait()
}

// newTransport returns a Transport trusting p's CA, closed at the end of the test.
func newTransport(t testing.TB, p *pki, opts Options) *Transport {
	t.Helper()
	if opts.CAPool == nil {
		opts.CAPool = p.pool
	}
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}
