package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
)

// TestNoTokenAnswersExpectAtOnce: while no token can be had (the token endpoint fails and a
// backoff runs), a request with Expect: 100-continue gets its 503 without sending its body.
func TestNoTokenAnswersExpectAtOnce(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	h.em.SetFault(h.cfg.Auth.TokenPath, emulator.Fault{Status: 500})
	h.serve(t)
	eventually(t, "a failed exchange", func() bool { return h.srv.routes[0].ident.tokens.Status().Failures > 0 })
	c, err := net.Dial("tcp", h.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a hang guard: the bug waits for the body
	fmt.Fprint(c, "POST /api/v3/"+h.em.UserID()+"/services HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("answer %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
