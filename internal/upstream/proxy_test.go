package upstream

import (
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// connectProxy is an HTTP proxy that serves only CONNECT tunnels, with Basic credentials
// user:pass, or refuses every CONNECT with 407 when refuse is set. It notes each request.
type connectProxy struct {
	refuse bool
	mu     sync.Mutex
	seen   []string // "METHOD host Proxy-Authorization"
	wg     sync.WaitGroup
	url    *url.URL
}

func newConnectProxy(t *testing.T, refuse bool) *connectProxy {
	p := &connectProxy{refuse: refuse}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 3 * time.Second}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); p.wg.Wait() })
	p.url = &url.URL{Scheme: "http", Host: ln.Addr().String(), User: url.UserPassword("user", "pa:ss")}
	return p
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, r.Method+" "+r.Host+" "+r.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa:ss"))
	switch {
	case r.Method != http.MethodConnect:
		http.Error(w, "only CONNECT", http.StatusMethodNotAllowed)
		return
	case p.refuse || r.Header.Get("Proxy-Authorization") != want:
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

// TestProxyURL (issue 18, upstream.proxy_url): requests go through the proxy's CONNECT
// tunnels with the URL's userinfo as Proxy-Authorization; the upstream's CA is still checked
// through the tunnel; a proxy that refuses CONNECT is named in the error, its password not.
func TestProxyURL(t *testing.T) {
	s := newServer(t, newPKI(t), okHandler(), false, 0)
	t.Run("tunnel", func(t *testing.T) {
		p := newConnectProxy(t, false)
		tr := newTransport(t, s.p, Options{ProxyURL: p.url})
		for range 3 {
			resp, err := get(t, tr, s.url())
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		tr.CloseIdleConnections()
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.seen) == 0 {
			t.Fatal("the proxy saw no request")
		}
		for _, r := range p.seen {
			if !strings.HasPrefix(r, "CONNECT "+s.addr+" Basic ") {
				t.Errorf("the proxy saw %q, want only CONNECT %s with credentials", r, s.addr)
			}
		}
	})
	t.Run("wrong CA through the tunnel", func(t *testing.T) {
		p := newConnectProxy(t, false)
		tr := newTransport(t, s.p, Options{ProxyURL: p.url, CAPool: newPKI(t).pool})
		_, err := get(t, tr, s.url())
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("error = %v, want a certificate error", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		p := newConnectProxy(t, true)
		tr := newTransport(t, s.p, Options{ProxyURL: p.url})
		_, err := get(t, tr, s.url())
		var pe *ProxyError
		if !errors.As(err, &pe) || !strings.HasPrefix(pe.Status, "407") {
			t.Fatalf("error = %v, want a *ProxyError with 407", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "http://user:***@"+p.url.Host) || strings.Contains(msg, "pa:ss") ||
			strings.Contains(msg, url.QueryEscape("pa:ss")) {
			t.Fatalf("error %q does not name the proxy with its password hidden", msg)
		}
	})
}
