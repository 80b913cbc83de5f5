package inbound

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// expectRefused sends headers announcing a body with Expect: 100-continue, keeps the
// connection open (no Connection: close) and sends no body: the refusal must come anyway, and
// first (no 100 Continue).
func expectRefused(t *testing.T, addr string, headers ...string) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // guards against a hang only
	fmt.Fprintf(conn, "POST /api/v3/0123/services HTTP/1.1\r\nHost: %s\r\nExpect: 100-continue\r\nContent-Length: 10\r\n", addr)
	for _, h := range headers {
		fmt.Fprintf(conn, "%s\r\n", h)
	}
	fmt.Fprint(conn, "\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer without the body: %v", err)
	}
	resp.Body.Close()
	return resp
}

// TestExpectContinueRefusals: the Guard's 401, 403, 413, 429 and 503 are sent at once to a
// client waiting for 100 Continue, and close the connection rather than wait for the body.
func TestExpectContinueRefusals(t *testing.T) {
	auth := "Authorization: Bearer " + aliceToken
	cfg := Config{DenyPaths: []string{"/services$"}, Clients: []Client{{Name: "alice", TokenSHA256: HashToken(aliceToken)}}}
	f := newFixture(t, cfg, "127.0.0.1:20000")
	check := func(t *testing.T, resp *http.Response, want int) {
		t.Helper()
		if resp.StatusCode != want || !resp.Close {
			t.Errorf("status %d (close %v), want %d and the connection closed", resp.StatusCode, resp.Close, want)
		}
	}
	t.Run("401", func(t *testing.T) { check(t, expectRefused(t, f.addr), 401) })
	t.Run("403", func(t *testing.T) { check(t, expectRefused(t, f.addr, auth), 403) })
	t.Run("413", func(t *testing.T) {
		f2 := newFixture(t, Config{MaxBodyBytes: 5}, "127.0.0.1:20000")
		check(t, expectRefused(t, f2.addr), 413)
	})
	t.Run("429", func(t *testing.T) {
		f4 := newFixture(t, Config{Clients: []Client{{Name: "slow", TokenSHA256: HashToken(readerToken), RatePerSecond: 0.001, Burst: 1}}}, "127.0.0.1:20000")
		f4.send(t, req{headers: []string{"Authorization: Bearer " + readerToken}}) // spends the burst
		check(t, expectRefused(t, f4.addr, "Authorization: Bearer "+readerToken), 429)
	})
	t.Run("503", func(t *testing.T) {
		f3 := newFixture(t, Config{MaxConcurrentRequests: 1}, "127.0.0.1:20000")
		conn, err := net.Dial("tcp", f3.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// This request holds the only slot while the backend waits for its body.
		fmt.Fprintf(conn, "POST /api/v3/0123/x HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\n\r\n", f3.addr)
		deadline := time.Now().Add(10 * time.Second)
		for len(f3.g.sem) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the first request never took its slot")
			}
			time.Sleep(time.Millisecond)
		}
		check(t, expectRefused(t, f3.addr), 503)
		fmt.Fprint(conn, "ok")
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 200 {
			t.Errorf("the slot holder: %v", err)
		}
	})
}
