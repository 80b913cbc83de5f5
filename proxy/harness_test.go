package proxy_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// harness is the emulator of the DBaaS Manager behind a frontend running the real proxy
// handler with the real token source, each on its own loopback socket.
type harness struct {
	t      testing.TB
	em     *emulator.Server
	tokens *tokensource.Cached
	base   *http.Transport // the upstream transport, shared by the token exchange and the proxy
	front  *httptest.Server
	client *http.Client
	logs   *testkit.SyncBuffer
}

// setup tunes the harness before it starts.
type setup struct {
	em        emulator.Options
	caPEM     []byte // the CA the proxy trusts; nil means the emulator's
	refreshOn []int
	header    string
	timeout   time.Duration
	maxReplay int64
	level     zerolog.Level
	noStart   bool                                      // do not start the background refresh
	cached    tokensource.CachedOptions                 // the token cache (its Logger is replaced)
	h2        bool                                      // speak HTTP/2 to the upstream, as upstream.http2 does
	wrap      func(http.RoundTripper) http.RoundTripper // wraps the proxy's side of the upstream transport
	generic   bool                                      // Options.Generic
}

func newHarness(t testing.TB, s setup) *harness {
	t.Helper()
	if s.em.Logger.GetLevel() == zerolog.TraceLevel { // the zero Logger: keep the emulator quiet
		s.em.Logger = zerolog.Nop()
	}
	em, err := emulator.Start(s.em)
	if err != nil {
		t.Fatalf("emulator.Start: %v", err)
	}
	t.Cleanup(func() { em.Close() })
	if s.caPEM == nil {
		s.caPEM = em.CAPEM()
	}
	if s.timeout == 0 {
		s.timeout = 10 * time.Second
	}
	h := &harness{t: t, em: em, logs: &testkit.SyncBuffer{}}
	logger := zerolog.New(h.logs).Level(s.level)
	base := pinnedTransport(t, s.caPEM, s.timeout)
	base.ForceAttemptHTTP2 = s.h2
	h.base = base
	s.cached.Logger = logger
	var now func() time.Time // nil: the wall clock
	if s.cached.Clock != nil {
		now = s.cached.Clock.Now
	}
	h.tokens = tokensource.NewCached(tokensource.NewExchange(tokensource.ExchangeOptions{
		URL:    em.URL() + "/api/v1/auth/token",
		Client: &http.Client{Transport: base},
		Key:    func() (string, error) { return em.APIKey(), nil },
		Now:    now,
		Logger: logger,
	}), s.cached)
	if !s.noStart {
		h.tokens.Start()
	}
	t.Cleanup(h.tokens.Close)
	var upstream http.RoundTripper = base
	if s.wrap != nil {
		upstream = s.wrap(base)
	}
	up, _ := url.Parse(em.URL())
	ph, err := proxy.New(proxy.Options{
		Upstream: up,
		Transport: &tokensource.Transport{
			Cache: h.tokens, Base: upstream, Header: s.header, RefreshOn: s.refreshOn,
			MaxReplayBytes: s.maxReplay, OnReplay: proxy.MarkReplayed,
		},
		CAFile:  "testdata/ca.pem",
		Timeout: s.timeout,
		Logger:  logger,
		Generic: s.generic,
	})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	h.front = httptest.NewServer(ph)
	t.Cleanup(h.front.Close)
	h.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

// pinnedTransport trusts only caPEM, like dbaas-proxy's upstream transport.
func pinnedTransport(t testing.TB, caPEM []byte, timeout time.Duration) *http.Transport {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad CA PEM")
	}
	tr := &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost:   256,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// do sends a request to the proxy and returns the status, headers and whole body.
func (h *harness) do(method, path string, body io.Reader, hdr map[string]string) (int, http.Header, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.front.URL+path, body)
	if err != nil {
		h.t.Fatalf("NewRequest: %v", err)
	}
	for k, v := range hdr {
		req.Header[k] = []string{v} // as sent: api_key keeps its underscore
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// get is do for a GET that must answer want.
func (h *harness) get(path string, want int) []byte {
	h.t.Helper()
	code, _, b := h.do(http.MethodGet, path, nil, nil)
	if code != want {
		h.t.Fatalf("GET %s = %d, want %d; body %s", path, code, want, b)
	}
	return b
}

// lastArrival is the last request the emulator saw.
func (h *harness) lastArrival() emulator.Arrival {
	h.t.Helper()
	all := h.em.Requests()
	if len(all) == 0 {
		h.t.Fatal("the emulator saw no request")
	}
	return all[len(all)-1]
}

// jsonError decodes the proxy's JSON error body.
func jsonError(t *testing.T, b []byte) (code int, msg string) {
	t.Helper()
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body is not JSON {code, message}: %q", b)
	}
	return e.Code, e.Message
}

// mustContain fails unless s contains each of subs.
func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s = %q, want it to contain %q", what, s, sub)
		}
	}
}
