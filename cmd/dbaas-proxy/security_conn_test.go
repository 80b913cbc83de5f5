package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// Connection-level defences through the whole program: header and idle timeouts, and inbound
// mutual TLS with a certificate swapped by SIGHUP.

// secTrickle opens a connection to addr and starts a GET whose header lines then trickle in,
// one per pause, up to n of them or until guard has passed. It returns the connection and,
// when the proxy closed it first, how long after the dial began (so never less than the
// proxy's own timer, which starts after the connection is accepted). The proxy must not
// answer a request it has not received.
func secTrickle(t *testing.T, addr string, n int, pause, guard time.Duration) (net.Conn, time.Duration) {
	t.Helper()
	begin := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET /api/v3/me/services HTTP/1.1\r\nHost: %s\r\n", addr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	for i := 0; i < n && time.Since(begin) < guard; i++ {
		_ = conn.SetReadDeadline(time.Now().Add(pause))
		k, err := conn.Read(buf)
		if k > 0 {
			t.Fatalf("the proxy answered a request it has not received: %q", buf[:k])
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() { // EOF or reset: closed by the proxy
			return conn, time.Since(begin)
		}
		if _, err := fmt.Fprintf(conn, "X-Slow-%d: 1\r\n", i); err != nil {
			return conn, time.Since(begin)
		}
	}
	return conn, 0
}

// secSlowButInTime sends headers slowly but within read_header_timeout and expects a 200.
func secSlowButInTime(t *testing.T, addr string) {
	conn, closed := secTrickle(t, addr, 2, 100*time.Millisecond, time.Minute)
	if closed != 0 {
		t.Fatalf("the proxy closed the connection after %v while headers still arrived", closed)
	}
	if _, err := io.WriteString(conn, "Connection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
}

// secSlowLoris trickles headers for ever and expects the proxy to close the connection without
// an answer once read_header_timeout (1 s configured) has passed, and not before. Only a hang
// guard bounds it from above: nine times the configured second, yet short of the 10 s default,
// so that a proxy ignoring the setting fails too.
func secSlowLoris(t *testing.T, addr string) {
	const configured = time.Second
	guard := inbound.DefaultReadHeaderTimeout - configured
	_, closed := secTrickle(t, addr, math.MaxInt, 250*time.Millisecond, guard)
	switch {
	case closed == 0:
		t.Fatalf("the slow-loris connection was still open after %v; want it closed after read_header_timeout (%v)", guard, configured)
	case closed < configured:
		t.Fatalf("the slow-loris connection was closed after %v, before read_header_timeout (%v)", closed, configured)
	}
}

// secIdleClosed makes one keep-alive request and expects the proxy to close the connection
// once idle_timeout (1 s) has passed, well before the 120 s default.
func secIdleClosed(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /api/v3/me/services HTTP/1.1\r\nHost: %s\r\n\r\n", addr); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("status %d, close %v; want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	idle := time.Now()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("read on the idle connection: %v, want EOF (closed by the proxy)", err)
	}
	if d := time.Since(idle); d < 500*time.Millisecond {
		t.Errorf("closed after %v of idleness, want about idle_timeout (1s)", d)
	}
}

// secTLSClient returns a client trusting ca that presents cert, if any, whatever CAs the server
// asks for; keep-alive unless noReuse.
func secTLSClient(ca *testkit.KeyPair, noReuse bool, cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: cfg, DisableKeepAlives: noReuse,
	}}
}

// secTLSGet makes a GET and returns the status, the serial of the server's certificate and
// whether the connection was reused.
func secTLSGet(c *http.Client, url string) (status int, serial *big.Int, reused bool, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, false, err
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.TLS.PeerCertificates[0].SerialNumber, reused, nil
}

// TestMutualTLS runs a gateway that requires client certificates, then swaps its server
// certificate with SIGHUP under an open connection.
func TestMutualTLS(t *testing.T) {
	dir := testkit.TempDir(t)
	ca, other := testkit.NewCA(t, "dbaas-proxy test CA"), testkit.NewCA(t, "someone else's CA")
	testkit.WriteFile(t, dir, "ca.crt", string(ca.CertPEM))
	server1 := ca.Issue(t, "server", true)
	server1.Write(t, dir, "server")
	alice := ca.Issue(t, "alice", false).TLSCertificate()
	mallory := other.Issue(t, "mallory", false).TLSCertificate()
	e := newEnv(t, fmt.Sprintf("inbound:\n  tls:\n    cert_file: %s\n    key_file: %s\n    client_ca_file: %s\n",
		filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt")))
	p := start(t, nil, "-config", e.config, "-listen", "0.0.0.0:"+secPort(t, e.listen))
	e.ready(t)
	url := "https://" + e.listen + "/api/v3/me/services"

	tests := []struct {
		name    string
		cert    *tls.Certificate
		wantErr string // "" when the request must reach the emulator
	}{
		{"client certificate signed by the client CA", &alice, ""},
		{"no client certificate", nil, "tls: certificate required"},
		{"client certificate of another CA", &mallory, "tls: unknown certificate authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := secTLSClient(ca, true, tt.cert)
			var status int
			var err error
			reached := secReached(e.em, func() { status, _, _, err = secTLSGet(c, url) })
			if tt.wantErr == "" {
				if err != nil || status != http.StatusOK || reached != 1 {
					t.Fatalf("GET = %d, %v (%d reached the emulator); want 200", status, err, reached)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || reached != 0 {
				t.Fatalf("GET = %d, %v (%d reached the emulator); want a TLS handshake failure", status, err, reached)
			}
		})
	}
	// Refused handshakes make no access line: the last is the accepted request's.
	if lines := secLogLines(t, p.stderr.String(), "request"); len(lines) == 0 || lines[len(lines)-1]["client_name"] != "alice" {
		t.Errorf("the access line does not name the client certificate's CN alice: %v", lines)
	}

	t.Run("SIGHUP swaps the server certificate without dropping connections", func(t *testing.T) {
		secCertSwap(t, p, ca, dir, url, server1, &alice)
	})
}

// secCertSwap opens a keep-alive connection, replaces the server certificate files with a new
// certificate, sends SIGHUP, and expects new connections to get the new certificate while the
// open one keeps working with the old.
func secCertSwap(t *testing.T, p *proc, ca *testkit.KeyPair, dir, url string, old *testkit.KeyPair, client *tls.Certificate) {
	keep := secTLSClient(ca, false, client)
	defer keep.CloseIdleConnections()
	if status, serial, _, err := secTLSGet(keep, url); err != nil || status != 200 || serial.Cmp(old.Cert.SerialNumber) != 0 {
		t.Fatalf("first GET = %d, serial %v, %v", status, serial, err)
	}
	server2 := ca.Issue(t, "server", true)
	server2.Write(t, dir, "server") // overwrites server.crt and server.key
	p.sig <- syscall.SIGHUP
	eventually(t, 10*time.Second, "new connections get the new certificate", func() bool {
		_, serial, _, err := secTLSGet(secTLSClient(ca, true, client), url)
		return err == nil && serial.Cmp(server2.Cert.SerialNumber) == 0
	})
	status, serial, reused, err := secTLSGet(keep, url)
	if err != nil || status != 200 || !reused || serial.Cmp(old.Cert.SerialNumber) != 0 {
		t.Errorf("GET on the open connection = %d, serial %v (old %v), reused %v, %v; want 200 on the "+
			"same connection", status, serial, old.Cert.SerialNumber, reused, err)
	}
}
