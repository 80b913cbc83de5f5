package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// TestProxyURL (issue 18, upstream.proxy_url): requests go through the proxy's CONNECT
// tunnels with the URL's userinfo as Proxy-Authorization; the upstream's CA is still checked
// through the tunnel; a proxy that refuses CONNECT is named in the error, its password not.
func TestProxyURL(t *testing.T) {
	s := newServer(t, newPKI(t), okHandler(), false, 0)
	t.Run("tunnel", func(t *testing.T) {
		p := testkit.NewConnectProxy(t, false)
		tr := newTransport(t, s.p, Options{ProxyURL: p.URL})
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
		seen := p.Seen()
		if len(seen) == 0 {
			t.Fatal("the proxy saw no request")
		}
		for _, r := range seen {
			if !strings.HasPrefix(r, "CONNECT "+s.addr+" Basic ") {
				t.Errorf("the proxy saw %q, want only CONNECT %s with credentials", r, s.addr)
			}
		}
	})
	t.Run("wrong CA through the tunnel", func(t *testing.T) {
		p := testkit.NewConnectProxy(t, false)
		tr := newTransport(t, s.p, Options{ProxyURL: p.URL, CAPool: newPKI(t).pool})
		_, err := get(t, tr, s.url())
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("error = %v, want a certificate error", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		p := testkit.NewConnectProxy(t, true)
		tr := newTransport(t, s.p, Options{ProxyURL: p.URL})
		_, err := get(t, tr, s.url())
		var pe *ProxyError
		if !errors.As(err, &pe) || !strings.HasPrefix(pe.Status, "407") {
			t.Fatalf("error = %v, want a *ProxyError with 407", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "http://user:***@"+p.URL.Host) || strings.Contains(msg, "pa:ss") ||
			strings.Contains(msg, url.QueryEscape("pa:ss")) {
			t.Fatalf("error %q does not name the proxy with its password hidden", msg)
		}
	})
}

// TestHTTPSProxy: an https:// proxy is reached over TLS verified against its CA (the system
// roots in the proxy; the test's CA here), and the upstream's own TLS runs inside the tunnel;
// a proxy whose certificate does not verify is refused and named.
func TestHTTPSProxy(t *testing.T) {
	s := newServer(t, newPKI(t), okHandler(), false, 0)
	proxyPKI := newPKI(t)
	cp := &testkit.ConnectProxy{}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{proxyPKI.leaf}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: cp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	cp.URL = &url.URL{Scheme: "https", Host: ln.Addr().String(), User: url.UserPassword("user", "pa:ss")}
	for _, tt := range []struct {
		name  string
		roots *x509.CertPool
		ok    bool
	}{{"trusted", proxyPKI.pool, true}, {"untrusted", s.p.pool, false}} {
		t.Run(tt.name, func(t *testing.T) {
			c := &connector{proxy: cp.URL, d: &net.Dialer{Timeout: 10 * time.Second}, roots: tt.roots}
			tr := newTransport(t, s.p, Options{})
			tr.cur.Load().http.DialContext = c.dial
			_, err := get(t, tr, s.url())
			var pe *ProxyError
			switch {
			case tt.ok && err != nil:
				t.Fatalf("through an https proxy: %v", err)
			case !tt.ok && (!errors.As(err, &pe) || strings.Contains(err.Error(), "pa:ss")):
				t.Fatalf("error = %v, want a *ProxyError without the password", err)
			}
		})
	}
}
