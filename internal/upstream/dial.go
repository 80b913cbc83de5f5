package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A refused dial is tried again after dialFirst, doubling up to dialMax, for dialWindow in all.
const (
	dialFirst  = 10 * time.Millisecond
	dialMax    = 200 * time.Millisecond
	dialWindow = 2 * time.Second
)

// Dialer returns the DialContext of the transports to the upstream and to IAM: a TCP dial,
// through proxy with CONNECT when not nil, retried while it fails at once (dialWindow). TLS
// runs inside the tunnel, so the CA file and pins are checked as without a proxy.
func Dialer(proxy *url.URL) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	dial := d.DialContext
	if proxy != nil {
		dial = (&connector{proxy: proxy, d: d}).dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		deadline := time.Now().Add(dialWindow)
		for wait := dialFirst; ; wait = min(2*wait, dialMax) {
			c, err := dial(ctx, network, addr)
			if err == nil || !failedAtOnce(err) || time.Now().Add(wait).After(deadline) {
				return c, err
			}
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(wait):
			}
		}
	}
}

// failedAtOnce reports a dial refused or unreachable: no timeout, DNS failure or proxy answer.
func failedAtOnce(err error) bool {
	op, _ := errors.AsType[*net.OpError](err)
	pe, _ := errors.AsType[*ProxyError](err)
	_, dns := errors.AsType[*net.DNSError](err)
	return op != nil && op.Op == "dial" && !op.Timeout() && !dns && (pe == nil || pe.Status == "")
}

// ProxyError is a failure reaching upstream.proxy_url or its CONNECT refusal; never the password.
type ProxyError struct {
	Proxy  string // the proxy's URL, its password as ***
	Status string // the proxy's answer to CONNECT when it refused it, else ""
	Err    error  // the failure reaching the proxy, when Status is ""
}

// Error names the proxy and says what failed.
func (e *ProxyError) Error() string {
	if e.Status != "" {
		return "upstream: the proxy " + e.Proxy + " (upstream.proxy_url) refused the tunnel: " + e.Status
	}
	return fmt.Sprintf("upstream: the proxy %s (upstream.proxy_url) failed: %v", e.Proxy, e.Err)
}

// Unwrap returns the failure reaching the proxy.
func (e *ProxyError) Unwrap() error { return e.Err }

// Redact returns u as text with its password, if any, as ***: how a proxy URL is logged.
func Redact(u *url.URL) string {
	return strings.Replace(u.Redacted(), ":xxxxx@", ":***@", 1)
}

// connector opens CONNECT tunnels through an HTTP or HTTPS proxy.
type connector struct {
	proxy *url.URL
	d     *net.Dialer
	roots *x509.CertPool // the CAs of an https:// proxy; nil: the system roots
}

// dial opens a tunnel to addr through the proxy (TLS to it verified by the system roots).
func (c *connector) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	fail := func(status string, err error) (net.Conn, error) {
		return nil, &ProxyError{Proxy: Redact(c.proxy), Status: status, Err: err}
	}
	host := c.proxy.Host
	if c.proxy.Port() == "" {
		host = net.JoinHostPort(c.proxy.Hostname(), map[string]string{"http": "80", "https": "443"}[c.proxy.Scheme])
	}
	conn, err := c.d.DialContext(ctx, network, host)
	if err != nil {
		return fail("", err)
	}
	deadline := time.Now().Add(c.d.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	if c.proxy.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: c.proxy.Hostname(), RootCAs: c.roots, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fail("", err)
		}
		conn = tc
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
	if u := c.proxy.User; u != nil {
		pw, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	br := bufio.NewReader(conn)
	if err := req.Write(conn); err != nil {
		conn.Close()
		return fail("", err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return fail("", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || br.Buffered() > 0 {
		conn.Close()
		return fail(resp.Status, nil)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}
