package inbound

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// backend records what reached it. A body it cannot read because of the body limit gets the
// 413 the proxy would send.
type backend struct {
	mu       sync.Mutex
	calls    int
	authz    []string // Authorization values of the last request
	client   string   // ClientName of the last request
	rawPath  string   // escaped path of the last request
	bodySize int64
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	b.mu.Lock()
	b.calls++
	b.authz = r.Header.Values("Authorization")
	b.client = ClientName(r.Context())
	b.rawPath = escapedPath(r.URL)
	b.bodySize = n
	b.mu.Unlock()
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		jsonerr.Write(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// rejects records OnReject labels.
type rejects struct {
	mu     sync.Mutex
	labels []string
}

func (r *rejects) add(label string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.labels = append(r.labels, label)
}

func (r *rejects) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.labels, ",")
}

// fixture is a Guard in front of a backend on a real loopback HTTP server.
type fixture struct {
	g    *Guard
	be   *backend
	rej  *rejects
	srv  *httptest.Server
	addr string // 127.0.0.1:port
	port string
}

func newFixture(t *testing.T, cfg Config, listen string) *fixture {
	t.Helper()
	f := &fixture{be: &backend{}, rej: &rejects{}}
	g, err := New(cfg, Options{Listen: listen, Logger: zerolog.Nop(), OnReject: f.rej.add})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.g = g
	f.srv = httptest.NewServer(g.Wrap(f.be))
	t.Cleanup(f.srv.Close)
	f.addr = f.srv.Listener.Addr().String()
	_, f.port, _ = net.SplitHostPort(f.addr)
	return f
}

// reply is a response read off a raw connection.
type reply struct {
	status int
	header http.Header
	body   string
}

// raw sends one HTTP/1.1 request written by hand (so that path and Host reach the server
// exactly as given) and reads the answer. headers are "Name: value" lines; body, when not "",
// is sent as is (the caller sets Content-Length or Transfer-Encoding).
func raw(t *testing.T, addr, method, path, host string, headers []string, body string) reply {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.1\r\n")
	if host != "\x00" { // "\x00": send no Host line
		b.WriteString("Host: " + host + "\r\n")
	}
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// keyPair is a certificate with its key, in PEM and parsed.
type keyPair struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

var serial = struct {
	sync.Mutex
	n int64
}{}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n)
}

// newCA makes a self-signed CA.
func newCA(t *testing.T, cn string) *keyPair {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	return sign(t, tmpl, nil)
}

// issue makes a leaf certificate signed by ca, for a server (127.0.0.1) or a client.
func (ca *keyPair) issue(t *testing.T, cn string, server bool) *keyPair {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	return sign(t, tmpl, ca)
}

func sign(t *testing.T, tmpl *x509.Certificate, ca *keyPair) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &keyPair{
		cert: cert, key: key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

// write stores the pair as dir/name.crt and dir/name.key and returns both paths.
func (kp *keyPair) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, kp.certPEM)
	writeFile(t, keyFile, kp.keyPEM)
	return certFile, keyFile
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
