package proxy_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
)

// TestExpectContinueRefusalsAnswerAtOnce: every answer the proxy makes itself is sent without
// waiting for a body announced with Expect: 100-continue, and no 100 Continue comes first.
func TestExpectContinueRefusalsAnswerAtOnce(t *testing.T) {
	hash := inbound.HashToken("client-token")
	cfg := &inbound.Config{DenyPaths: []string{"^/api/v3/denied"}, MaxBodyBytes: 100,
		Clients: []inbound.Client{{Name: "c", TokenSHA256: hash}, {Name: "slow", TokenSHA256: inbound.HashToken("slow"), RatePerSecond: 0.001, Burst: 1}}}
	e := newEdge(t, edgeSetup{inbound: cfg})
	auth := "Authorization: Bearer client-token"
	tests := []struct {
		name, method, target string
		headers              []string
		length               int
		want                 int
	}{
		{"401 no credential", "POST", "/api/v3/x", nil, 10, 401},
		{"403 denied path", "POST", "/api/v3/denied", []string{auth}, 10, 403},
		{"404 outside /api/", "POST", "/other", []string{auth}, 10, 404},
		{"405 token endpoint", "POST", "/api/v1/auth/token", []string{auth}, 10, 405},
		{"405 TRACE", "TRACE", "/api/v3/x", []string{auth}, 10, 405},
		{"413 too large", "POST", "/api/v3/x", []string{auth}, 1000, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, br := e.dial(t)
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n", tt.method, tt.target, tt.length)
			for _, h := range tt.headers {
				fmt.Fprintf(conn, "%s\r\n", h)
			}
			fmt.Fprint(conn, "\r\n") // and no body: the answer must come anyway
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer without the body: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	_ = e.up
}
