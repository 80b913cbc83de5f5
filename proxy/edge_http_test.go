package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
)

// TestExpectContinueAllowedGetsBodyOnce: a forwarded request that announced its body gets
// 100 Continue, and the upstream gets the body exactly once.
func TestExpectContinueAllowedGetsBodyOnce(t *testing.T) {
	e := newEdge(t, edgeSetup{inbound: &inbound.Config{}})
	conn, br := e.dial(t)
	fmt.Fprint(conn, "POST /api/v3/x/_echo HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("first line %q (%v), want 100 Continue before the body", line, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("100 Continue followed by %q", blank)
	}
	fmt.Fprint(conn, "hello")
	var resp *http.Response
	for resp == nil || resp.StatusCode == http.StatusContinue { // the upstream's own 100 is relayed too
		if resp, err = http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := e.up.arrivals()
	if resp.StatusCode != 200 || len(got) != 1 || got[0].body != "hello" {
		t.Fatalf("status %d; upstream got %d requests %+v, want one with body %q", resp.StatusCode, len(got), got, "hello")
	}
}

// TestMethodsOutsideTheAPIAre405: only the methods the API uses are forwarded.
func TestMethodsOutsideTheAPIAre405(t *testing.T) {
	e := newEdge(t, edgeSetup{})
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		t.Run(m, func(t *testing.T) {
			before := len(e.up.arrivals())
			if code, _, _ := e.raw(t, m, "/api/v3/x", []string{"Content-Length: 0"}, ""); code != 200 {
				t.Fatalf("%s = %d, want it forwarded (200)", m, code)
			}
			if got := e.up.arrivals(); len(got) != before+1 || got[len(got)-1].method != m {
				t.Errorf("%s did not reach the upstream", m)
			}
		})
	}
	for _, tt := range []struct{ method, target string }{
		{"TRACE", "/api/v3/x"}, {"CONNECT", "127.0.0.1:443"}, {"CONNECT", "/api/v3/x"},
		{"PROPFIND", "/api/v3/x"}, {"FOO", "/api/v1/auth/token"}, {"get", "/api/v3/x"},
	} {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			before := len(e.up.arrivals())
			code, hdr, body := e.raw(t, tt.method, tt.target, []string{"Content-Length: 0"}, "")
			if code != http.StatusMethodNotAllowed {
				t.Fatalf("%s = %d (%s), want 405", tt.method, code, body)
			}
			if c, msg := jsonError(t, []byte(body)); c != 405 || !strings.Contains(msg, "GET, HEAD, POST") {
				t.Errorf("error %d %q, want 405 naming the methods", c, msg)
			}
			if a := hdr.Get("Allow"); a != "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" {
				t.Errorf("Allow = %q", a)
			}
			if len(e.up.arrivals()) != before {
				t.Errorf("%s was forwarded", tt.method)
			}
		})
	}
}

// TestBrokenClientBodyIsTheClientsFault: a malformed chunked body is a 400 that closes the
// connection, a client that hangs up mid-upload gets nothing; neither is a 502, neither is
// counted as upstream time, both are logged as the client's fault.
func TestBrokenClientBodyIsTheClientsFault(t *testing.T) {
	tests := []struct {
		name   string
		send   string
		hangUp bool
		want   int // the status recorded; 0 for "no answer" (recorded as 499)
	}{
		{"malformed chunked body", "POST /api/v3/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", false, 400},
		{"hang-up mid-upload", "POST /api/v3/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nonly ten b", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEdge(t, edgeSetup{})
			conn, br := e.dial(t)
			fmt.Fprint(conn, tt.send)
			if tt.hangUp {
				conn.(*net.TCPConn).CloseWrite()
			}
			resp, err := http.ReadResponse(br, nil)
			switch {
			case tt.want == 0 && err == nil:
				t.Fatalf("a client that hung up got %d; upstream %+v; logs %s", resp.StatusCode, e.up.arrivals(), e.logs.String())
			case tt.want != 0 && err != nil:
				t.Fatalf("no answer: %v", err)
			case tt.want != 0:
				b, _ := io.ReadAll(resp.Body)
				if c, msg := jsonError(t, b); resp.StatusCode != tt.want || c != tt.want || !strings.Contains(msg, "body") {
					t.Errorf("answer %d %q, want %d saying the body is at fault", resp.StatusCode, msg, tt.want)
				}
				if !resp.Close {
					t.Error("the connection is kept open after a broken body")
				}
				if _, err := br.ReadByte(); err != io.EOF {
					t.Errorf("after the answer: %v, want the connection closed (EOF)", err)
				}
			}
			rec := e.record(t)
			want := tt.want
			if want == 0 {
				want = 499
			}
			if rec.Status != want || rec.UpstreamDuration != 0 {
				t.Errorf("recorded status %d, upstream_duration %v; want %d and 0", rec.Status, rec.UpstreamDuration, want)
			}
			logs := e.logs.String()
			if strings.Contains(logs, `"status":502`) || !strings.Contains(logs, `"fault":"client"`) {
				t.Errorf("logs do not blame the client alone:\n%s", logs)
			}
		})
	}
}

// TestBodyIdleTimeout: a body that stalls longer than inbound.body_idle_timeout is cut with a
// 408, the connection is closed and the request's max_concurrent_requests slot is freed.
func TestBodyIdleTimeout(t *testing.T) {
	e := newEdge(t, edgeSetup{inbound: &inbound.Config{BodyIdleTimeout: 100 * time.Millisecond, MaxConcurrentRequests: 1}})
	conn, br := e.dial(t)
	fmt.Fprint(conn, "POST /api/v3/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nx") // then nothing
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if c, msg := jsonError(t, b); resp.StatusCode != http.StatusRequestTimeout || c != 408 || !strings.Contains(msg, "inbound.body_idle_timeout") {
		t.Fatalf("answer %d %q, want 408 naming inbound.body_idle_timeout", resp.StatusCode, msg)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the 408: %v, want the connection closed (EOF)", err)
	}
	if rec := e.record(t); rec.Status != 408 || rec.UpstreamDuration != 0 {
		t.Errorf("recorded %d with upstream_duration %v, want 408 and 0", rec.Status, rec.UpstreamDuration)
	}
	// The only slot is free again.
	if code, _, body := e.raw(t, "GET", "/api/v3/x", nil, ""); code != 200 {
		t.Errorf("the next request got %d (%s), want 200: the slot was not freed", code, body)
	}
}

// TestContentLengthWithChunked pins what net/http does with a request carrying both
// Content-Length and Transfer-Encoding: chunked (RFC 9112 section 6.1): the chunked body wins,
// the Content-Length is removed before the handler sees it (so the proxy cannot see it either),
// the upstream gets exactly the chunked body, and the bytes after it are the next request, not
// part of this one.
func TestContentLengthWithChunked(t *testing.T) {
	e := newEdge(t, edgeSetup{})
	conn, br := e.dial(t)
	fmt.Fprint(conn, "POST /api/v3/first HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n0\r\n\r\n"+
		"GET /api/v3/second HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	for _, want := range []string{"first", "second"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer to %s: %v", want, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", want, resp.StatusCode)
		}
	}
	got := e.up.arrivals()
	if len(got) != 2 || got[0].uri != "/api/v3/first" || got[0].body != "hello" || got[1].uri != "/api/v3/second" || got[1].body != "" {
		t.Fatalf("upstream got %+v, want /api/v3/first with body hello, then /api/v3/second", got)
	}
	if cl := got[0].header.Get("Content-Length"); cl == "3" {
		t.Errorf("the client's Content-Length 3 was forwarded")
	}
}

// TestClientGoneWhileWaitingGetsNoAnswer: a client that half-closes its side while the
// upstream is still working is gone; it must not be sent an empty 200 that looks like
// success. The connection is aborted and the access log records 499.
func TestClientGoneWhileWaitingGetsNoAnswer(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	e := newEdge(t, edgeSetup{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})})
	conn, br := e.dial(t)
	fmt.Fprint(conn, "GET /api/v3/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	<-arrived
	conn.(*net.TCPConn).CloseWrite()
	if resp, err := http.ReadResponse(br, nil); err == nil {
		t.Fatalf("a client that left got %d, want no answer", resp.StatusCode)
	}
	if rec := e.record(t); rec.Status != 499 {
		t.Errorf("recorded status %d, want 499", rec.Status)
	}
}
