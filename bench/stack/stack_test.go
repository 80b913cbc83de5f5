// Package stack_test measures dbaas-proxy's per-request cost in its handler stack, layer by
// layer, against a bare httputil.ReverseProxy: the same request through each, in memory, with a
// canned upstream RoundTripper (no sockets, no TLS), so that ns/op, B/op and allocs/op are the
// handlers' own. The layers are added one at a time in the order cmd/dbaas-proxy wires them
// (internal/server: buildProxy, inFlight), so the step from one line to the next is the cost of one
// layer. Run it with bench/run.sh cpu, or:
//
//	go test -run '^$' -bench . -benchmem -count 5 ./bench/stack
//	go test -run '^$' -bench 'Stack/full$' -cpuprofile cpu.prof -memprofile mem.prof ./bench/stack
package stack_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

const (
	userID = "0123456789abcdef0123456789abcdef"
	listen = "127.0.0.1:20000"
)

var (
	upstream  = &url.URL{Scheme: "https", Host: "127.0.0.1:20443"}
	answer    = []byte(`{"services":[{"service":{"name":"bench"},"cluster_id":"c-1"}]}`)
	fakeToken = "eyJhbGciOiJSUzI1NiJ9." + string(bytes.Repeat([]byte("x"), 900)) + ".sig"
)

// canned is the upstream: a 200 with a small JSON body, as the emulator answers GET /services.
type canned struct{}

func (canned) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(answer))},
			"Date": {"Wed, 02 Dec 2026 03:00:00 GMT"}},
		Body: io.NopCloser(bytes.NewReader(answer)), ContentLength: int64(len(answer)), Request: req,
	}, nil
}

// static is a token source with one token, like a warm tokensource.Cached.
type static struct{ tok tokensource.Token }

func (s static) Token(context.Context) (tokensource.Token, error) { return s.tok, nil }

// timeHook adds the time field as cmd/dbaas-proxy's timeHook does.
type timeHook struct{}

func (timeHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	const timeFormat = "2006-01-02T15:04:05.000Z07:00"
	var b [len(timeFormat) + 8]byte
	e.Bytes(zerolog.TimestampFieldName, time.Now().UTC().AppendFormat(b[:0], timeFormat))
}

// writer is a reusable ResponseWriter that keeps nothing.
type writer struct {
	h      http.Header
	status int
}

func (w *writer) Header() http.Header         { return w.h }
func (w *writer) WriteHeader(code int)        { w.status = code }
func (w *writer) Write(b []byte) (int, error) { return len(b), nil }

type bufferPool struct{}

var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(bufs.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { bufs.Put(&b) }

// tokenTransport is the token transport as internal/server's buildProxy wires it: over
// proxy.TimeUpstream, over the upstream.
func tokenTransport(src tokensource.Source) *tokensource.Transport {
	return &tokensource.Transport{Cache: tokensource.NewCached(src, tokensource.CachedOptions{}), Base: proxy.TimeUpstream(canned{}),
		Header: "x-auth-token", RefreshOn: []int{401}, MaxReplayBytes: 1 << 20}
}

func plain(tr http.RoundTripper, setToken bool) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = upstream.Scheme, upstream.Host, ""
			if setToken {
				pr.Out.Header.Set("x-auth-token", fakeToken)
			}
		},
		Transport: tr, BufferPool: bufferPool{},
	}
}

// layers builds dbaas-proxy's handler as internal/server does, with the layers up to n.
func layers(b *testing.B, n int) http.Handler {
	src := static{tokensource.Token{AccessToken: fakeToken, UserID: userID, Expiry: time.Now().Add(time.Hour)}}
	opts := proxy.Options{Upstream: upstream, Transport: tokenTransport(src), CAFile: "ca.pem",
		Timeout: time.Minute, Logger: zerolog.Nop()}
	if n >= 1 { // the access log: JSON, info level, with the time as cmd/dbaas-proxy (serve.go) adds it
		opts.Logger = zerolog.New(io.Discard).Level(zerolog.InfoLevel).Hook(timeHook{})
	}
	if n >= 2 { // the inbound guard with its defaults, and the client name for the access log
		g, err := inbound.New(inbound.Config{}, inbound.Options{Listen: listen, Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		opts.Guard, opts.ClientName = g.Wrap, inbound.ClientName
	}
	var m *admin.Metrics
	if n >= 3 { // metrics, the status page's recent list and counts
		m = admin.NewMetrics(nil, "bench", time.Now)
		recent := admin.NewRecent(50)
		var classes [6]int64
		var mu sync.Mutex
		opts.Observe = func(rec *proxy.Record) {
			m.Observe(rec)
			recent.Add(rec)
			mu.Lock()
			classes[rec.Status/100]++
			mu.Unlock()
		}
	}
	h, err := proxy.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	if n < 4 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // inFlight
		m.RequestStarted()
		defer m.RequestDone()
		h.ServeHTTP(w, r)
	})
}

// BenchmarkStack sends GET /api/v3/<user>/services through each handler. Compare the lines:
// "plain" is the floor, "full" what dbaas-proxy runs with its defaults.
func BenchmarkStack(b *testing.B) {
	src := static{tokensource.Token{AccessToken: fakeToken, UserID: userID, Expiry: time.Now().Add(time.Hour)}}
	cases := []struct {
		name string
		h    func(*testing.B) http.Handler
	}{
		{"harness", func(*testing.B) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(answer) })
		}},
		{"plain", func(*testing.B) http.Handler { return plain(canned{}, true) }},
		{"plain+tokentransport", func(*testing.B) http.Handler { return plain(tokenTransport(src), false) }},
		{"proxy-nolog", func(b *testing.B) http.Handler { return layers(b, 0) }},
		{"+accesslog", func(b *testing.B) http.Handler { return layers(b, 1) }},
		{"+guard", func(b *testing.B) http.Handler { return layers(b, 2) }},
		{"+observe", func(b *testing.B) http.Handler { return layers(b, 3) }},
		{"full", func(b *testing.B) http.Handler { return layers(b, 4) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := c.h(b)
			path := "/api/v3/" + userID + "/services"
			w := &writer{h: make(http.Header)}
			serve := func() {
				r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header: http.Header{"User-Agent": {"wrk"}, "Accept": {"application/json"}},
					Host:   listen, RemoteAddr: "127.0.0.1:40000", RequestURI: path, Body: http.NoBody}
				r = r.WithContext(context.Background())
				clear(w.h)
				w.status = 0
				h.ServeHTTP(w, r)
				if w.status != 0 && w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
			serve()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serve()
			}
		})
	}
}
