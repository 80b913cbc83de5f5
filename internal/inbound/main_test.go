package inbound

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
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
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.1\r\n")
	if host != "\x00" { // "\x00": send no Host line
		b.WriteString("Host: " + host + "\r\n")
	}
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n" + body)
	status, header, respBody := testkit.RawRoundTrip(t, addr, method, b.String())
	return reply{status: status, header: header, body: respBody}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
