package testkit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// RawRoundTrip sends request, a whole HTTP/1.1 request written by hand (so that its path and
// headers reach the server exactly as written), on a new connection to addr, and reads the
// answer. method is the request's method, which says how to read the answer (a HEAD's has no
// body). The dial must succeed within 5 s and the exchange end within 10 s, or the test fails.
func RawRoundTrip(t testing.TB, addr, method, request string) (status int, header http.Header, body string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		line, _, _ := strings.Cut(request, "\r\n")
		t.Fatalf("read the answer to %s: %v", line, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, string(data)
}
