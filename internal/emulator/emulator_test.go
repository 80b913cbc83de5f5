package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start runs an emulator for the test.
func start(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.Logger = zerolog.Nop()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// clientOpts tunes newClient.
type clientOpts struct {
	http1Only bool
	noReuse   bool
	timeout   time.Duration
}

// newClient returns a client trusting only the emulator's CA, offering h2 unless http1Only.
func newClient(t testing.TB, s *Server, o clientOpts) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("CAPEM holds no certificate")
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(!o.http1Only)
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Protocols:         protos,
		DisableKeepAlives: o.noReuse,
	}
	t.Cleanup(tr.CloseIdleConnections)
	timeout := o.timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// answer is a complete response.
type answer struct {
	status int
	header http.Header
	body   []byte
	proto  string
}

// do sends a request and reads the whole answer; headers is "Name: value" lines.
func do(t testing.TB, c *http.Client, method, url, body string, headers ...string) answer {
	t.Helper()
	a, err := try(c, method, url, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return a
}

func try(c *http.Client, method, url, body string, headers ...string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		return answer{}, err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, proto: resp.Proto}, err
}

// tokenFor exchanges key for a token and returns it.
func tokenFor(t testing.TB, s *Server, c *http.Client, key string) string {
	t.Helper()
	a := do(t, c, "GET", s.URL()+"/api/v3/auth/token", "", "api_key: "+key, "Accept: application/json")
	if a.status != http.StatusOK {
		t.Fatalf("token exchange: status %d, body %s", a.status, a.body)
	}
	var got struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil || got.AccessToken == "" {
		t.Fatalf("token exchange: body %s: %v", a.body, err)
	}
	return got.AccessToken
}

// wantError checks the JSON error shape of an answer.
func wantError(t testing.TB, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d (body %s)", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil || e.Code != status || e.Message == "" {
		t.Errorf("error body %s, want {\"code\": %d, \"message\": ...} (%v)", a.body, status, err)
	}
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}
