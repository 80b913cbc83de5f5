package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// arrival is one request as the recording upstream saw it.
type arrival struct {
	method, uri string // uri: the request target exactly as it arrived
	header      http.Header
	body        string
	bodyErr     error
}

// recorder is a plain HTTP upstream that keeps every request it gets and answers 200 "ok".
type recorder struct {
	mu  sync.Mutex
	got []arrival
}

func (u *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	u.mu.Lock()
	u.got = append(u.got, arrival{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: string(b), bodyErr: err})
	u.mu.Unlock()
	if err != nil {
		panic(http.ErrAbortHandler) // a body cut off: no answer, as a server whose read failed
	}
	_, _ = io.WriteString(w, "ok")
}

func (u *recorder) arrivals() []arrival {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]arrival(nil), u.got...)
}

// edge is the real proxy handler, with an optional inbound Guard, in front of a recorder, on
// loopback sockets, logging at trace level into logs.
type edge struct {
	up    *recorder
	front *httptest.Server
	addr  string
	logs  *testkit.SyncBuffer
	recs  chan proxy.Record
}

// edgeSetup tunes newEdge.
type edgeSetup struct {
	inbound *inbound.Config                           // nil: no Guard
	wrap    func(http.RoundTripper) http.RoundTripper // under the token transport
	source  tokensource.Source                        // nil: a static token for fuzzUser
	now     func() time.Time                          // the proxy's clock; nil: time.Now
	handler http.Handler                              // the upstream; nil: the recorder
}

func newEdge(t *testing.T, s edgeSetup) *edge {
	t.Helper()
	e := &edge{up: &recorder{}, logs: &testkit.SyncBuffer{}, recs: make(chan proxy.Record, 64)}
	var upH http.Handler = e.up
	if s.handler != nil {
		upH = s.handler
	}
	upSrv := httptest.NewServer(upH)
	t.Cleanup(upSrv.Close)
	upURL, _ := url.Parse(upSrv.URL)
	logger := zerolog.New(e.logs).Level(zerolog.TraceLevel)
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	var rt http.RoundTripper = base
	if s.wrap != nil {
		rt = s.wrap(base)
	}
	var src tokensource.Source = staticSource{tokensource.Token{AccessToken: fuzzToken, UserID: fuzzUser,
		IssuedAt: time.Now().Add(-time.Minute), Expiry: time.Now().Add(time.Hour)}}
	if s.source != nil {
		src = s.source
	}
	opts := proxy.Options{
		Now:      s.now,
		Upstream: upURL,
		Transport: &tokensource.Transport{Base: rt, Cache: tokensource.NewCached(src, tokensource.CachedOptions{
			Clock: &manualClock{now: time.Unix(1_600_000_000, 0)}})}, // before every test token's expiry
		Logger: logger,
		Observe: func(r *proxy.Record) {
			select {
			case e.recs <- *r:
			default:
			}
		},
	}
	if s.inbound != nil {
		g, err := inbound.New(*s.inbound, inbound.Options{Listen: "127.0.0.1:20000", Logger: logger})
		if err != nil {
			t.Fatalf("inbound.New: %v", err)
		}
		opts.Guard = g.Wrap
		opts.ClientName = inbound.ClientName
	}
	ph, err := proxy.New(opts)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	e.front = httptest.NewServer(ph)
	t.Cleanup(e.front.Close)
	e.addr = e.front.Listener.Addr().String()
	return e
}

// raw sends a hand-written request (request line and header lines, without the blank line;
// Host and Connection: close are added) and body, and reads the answer.
func (e *edge) raw(t *testing.T, method, target string, headers []string, body string) (int, http.Header, string) {
	t.Helper()
	req := method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	return testkit.RawRoundTrip(t, e.addr, method, req+"Connection: close\r\n\r\n"+body)
}

// record waits for the Observe record of the next finished request.
func (e *edge) record(t *testing.T) proxy.Record {
	t.Helper()
	select {
	case r := <-e.recs:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no request was observed within 10 s")
		return proxy.Record{}
	}
}

// dial opens a raw connection to the proxy, closed at the end of the test, with a 10 s
// deadline that guards against hangs.
func (e *edge) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn, bufio.NewReader(conn)
}

// proxyTimeUpstream is proxy.TimeUpstream as an edgeSetup.wrap.
func proxyTimeUpstream(base http.RoundTripper) http.RoundTripper { return proxy.TimeUpstream(base) }
