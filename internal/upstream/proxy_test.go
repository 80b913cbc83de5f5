package upstream

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

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
