package inbound

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
)

// TestPolicyBypasses: the ways an outside review passed the path and method rules. A deny rule
// ending in "$" also refuses the path with a final "/", a ";" parameter, a trailing space or an
// extension; double-encoded, overlong-UTF-8 and NUL segments are refused under a path rule;
// method-override headers and ?_method= are judged like the method itself.
func TestPolicyBypasses(t *testing.T) {
	const loop = "127.0.0.1:20000"
	deny := Config{DenyPaths: []string{"^/api/v3/0123/services$"}}
	allow := Config{AllowPaths: []string{"^/api/v3/"}}
	methods := Config{DenyMethods: []string{"DELETE"}}
	reader := []string{"Authorization: Bearer " + readerToken}
	tests := []struct {
		name       string
		cfg        Config
		req        req
		wantStatus int
		wantReason string
	}{
		{"deny $ final slash", deny, req{path: "/api/v3/0123/services/"}, 403, "path"},
		{"deny $ parameter", deny, req{path: "/api/v3/0123/services;a=b"}, 403, "path"},
		{"deny $ space", deny, req{path: "/api/v3/0123/services%20"}, 403, "path"},
		{"deny $ extension", deny, req{path: "/api/v3/0123/services.json"}, 403, "path"},
		{"deny $ other path", deny, req{path: "/api/v3/0123/services/x"}, 200, ""},
		{"double-encoded dots", allow, req{path: "/api/v3/%252e%252e/v1/x"}, 400, "encoding"},
		{"overlong UTF-8 dots", allow, req{path: "/api/v3/%c0%ae%c0%ae/v1/x"}, 400, "encoding"},
		{"NUL after dots", allow, req{path: "/api/v3/..%00/v1/x"}, 400, "encoding"},
		{"UTF-8 name", allow, req{path: "/api/v3/%C3%A9t%C3%A9"}, 200, ""},
		{"X-HTTP-Method-Override", methods, req{headers: []string{"X-HTTP-Method-Override: DELETE"}}, 403, "method"},
		{"X-HTTP-Method", methods, req{headers: []string{"X-HTTP-Method: delete"}}, 403, "method"},
		{"X-Method-Override", methods, req{headers: []string{"X-Method-Override: DELETE"}}, 403, "method"},
		{"_method query", methods, req{path: "/api/v3/0123/services?a=1&_method=DELETE"}, 403, "method"},
		{"override to an allowed method", methods, req{headers: []string{"X-HTTP-Method-Override: PATCH"}}, 200, ""},
		{"read-only override", bearerConfig(), req{headers: append(reader, "X-HTTP-Method-Override: DELETE")}, 403, "read_only"},
		{"read-only _method", bearerConfig(), req{path: "/api/v3/0123/services?_method=POST", headers: reader}, 403, "read_only"},
		{"read-only GET", bearerConfig(), req{headers: reader}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg, loop)
			check(t, f, f.send(t, tt.req), tt.wantStatus, tt.wantReason, 0)
		})
	}
}

// TestHTTP10BodyClosesConnection: an HTTP/1.0 request with both Transfer-Encoding and
// Content-Length is framed by Content-Length (net/http drops Transfer-Encoding on HTTP/1.0), so
// a request hidden in its body would be served next on a kept connection. The connection is
// closed after an HTTP/1.0 request with a body instead: the hidden request is never read.
func TestHTTP10BodyClosesConnection(t *testing.T) {
	f := newFixture(t, Config{}, "127.0.0.1:20000")
	hidden := "GET /smuggled HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
	body := "0\r\n\r\n" + hidden
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "POST /api/v3/0123/services HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"+
		"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"+body)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 && !resp.Close {
		t.Errorf("first answer %d without closing the connection", resp.StatusCode)
	}
	if resp2, err := http.ReadResponse(br, nil); err == nil {
		resp2.Body.Close()
		t.Errorf("a second answer (%d) came on the connection: the hidden request was served", resp2.StatusCode)
	}
	if n := f.be.count(); n > 1 {
		t.Errorf("the backend ran %d times: it saw the hidden request", n)
	}
}

// TestMinBodyRate: a body trickled below inbound.min_body_rate (here 50 bytes/s against the
// default 1 KiB/s) is cut once the rate window has passed since its first byte (shortened
// here from 30 s): the handler's read fails with a timeout (the proxy's 408), the connection
// closes and the only slot is free again; a fast body passes.
func TestMinBodyRate(t *testing.T) {
	g, err := New(Config{MaxConcurrentRequests: 1}, Options{Listen: "127.0.0.1:20000", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	g.limits.rateWindow = 300 * time.Millisecond
	srv := httptest.NewServer(g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); errors.Is(err, os.ErrDeadlineExceeded) {
			jsonerr.Write(w, http.StatusRequestTimeout, "request timeout")
			return
		}
		_, _ = io.WriteString(w, "ok")
	})))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	_, _ = io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
	stop, trickled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(trickled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	close(stop)
	<-trickled
	if err != nil {
		t.Fatalf("no answer to a trickled body: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("answer %d, want 408", resp.StatusCode)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Errorf("after the 408: %q %v, want the connection closed (EOF)", rest, err)
	}
	got := raw(t, srv.Listener.Addr().String(), "POST", "/x", "127.0.0.1", []string{"Content-Length: 100000"}, strings.Repeat("x", 100000))
	if got.status != 200 {
		t.Errorf("a fast body got %d %s, want 200", got.status, got.body)
	}
}

// TestBearerSet: Set replaces the tokens a Bearer accepts (admin.clients on SIGHUP).
func TestBearerSet(t *testing.T) {
	b := NewBearer([]Client{{Name: "ops", TokenSHA256: HashToken(aliceToken)}})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+aliceToken)
	if name, ok := b.Check(r); !ok || name != "ops" || b.Empty() {
		t.Fatalf("Check = %q %v before Set", name, ok)
	}
	b.Set(nil)
	if _, ok := b.Check(r); ok || !b.Empty() {
		t.Error("a removed token still passes")
	}
	if _, ok := (*Bearer)(nil).Check(r); ok {
		t.Error("a nil Bearer let a request on")
	}
}

// TestSetClients: SetClients takes effect on the next request and refuses to turn inbound
// authentication off.
func TestSetClients(t *testing.T) {
	f := newFixture(t, bearerConfig(), "10.0.0.5:20000")
	bearer := []string{"Authorization: Bearer " + aliceToken}
	check(t, f, f.send(t, req{host: "x", headers: bearer}), 200, "", 0)
	if err := f.g.SetClients(bearerConfig().Clients[1:]); err != nil {
		t.Fatal(err)
	}
	check(t, f, f.send(t, req{host: "x", headers: bearer}), 401, "auth", f.be.count())
	if err := f.g.SetClients(nil); err == nil || !strings.Contains(err.Error(), "takes a restart") {
		t.Errorf("SetClients(nil) = %v, want a refusal", err)
	}
}

// TestClientCARemovedClosesKeptConnections: a connection whose client certificate was verified
// before Reload removed its CA gets 401 on its next request, and is closed.
func TestClientCARemovedClosesKeptConnections(t *testing.T) {
	p := newPKI(t)
	g, err := New(Config{TLS: p.tlsConfig()}, Options{Listen: "0.0.0.0:20000"})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, g, &backend{})
	alice := p.ca.Issue(t, "alice", false)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{alice.TLSCertificate()}}}
	defer tr.CloseIdleConnections()
	conns := 0
	get := func() *http.Response {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/api/v3/0123/services", nil)
		r = r.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				conns++
			}
		}}))
		resp, err := tr.RoundTrip(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := get(); resp.StatusCode != 200 {
		t.Fatalf("before the reload: %d", resp.StatusCode)
	}
	writeFile(t, p.caFile, p.otherCA.CertPEM)
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	if resp := get(); resp.StatusCode != 401 || !resp.Close || conns != 1 {
		t.Errorf("after the CA was removed: %d, close %v, on %d connections; want 401 closing the one kept connection",
			resp.StatusCode, resp.Close, conns)
	}
}
