package testkit

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// ConnectProxy is an HTTP proxy on 127.0.0.1 that serves only CONNECT tunnels to clients that
// send the Basic credentials of URL, or, when Refuse is set, answers every CONNECT with 407.
// It notes every request it got. Cleanup stops it and its tunnels.
type ConnectProxy struct {
	URL    *url.URL // http://user:pa%3Ass@127.0.0.1:port
	Refuse bool

	mu   sync.Mutex
	seen []string
	wg   sync.WaitGroup
}

// NewConnectProxy starts a ConnectProxy until the end of the test.
func NewConnectProxy(t testing.TB, refuse bool) *ConnectProxy {
	t.Helper()
	p := &ConnectProxy{Refuse: refuse}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); p.wg.Wait() })
	p.URL = &url.URL{Scheme: "http", Host: ln.Addr().String(), User: url.UserPassword("user", "pa:ss")}
	return p
}

// Seen returns the requests the proxy got, each as "METHOD host Proxy-Authorization".
func (p *ConnectProxy) Seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// ServeHTTP tunnels a CONNECT with the right credentials, and refuses anything else.
func (p *ConnectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, r.Method+" "+r.Host+" "+r.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa:ss"))
	switch {
	case r.Method != http.MethodConnect:
		http.Error(w, "only CONNECT", http.StatusMethodNotAllowed)
		return
	case p.Refuse || r.Header.Get("Proxy-Authorization") != want:
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		http.Error(w, "no", http.StatusProxyAuthRequired)
		return
	}
	up, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	p.wg.Add(2)
	go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
	go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
}
