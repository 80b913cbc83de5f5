package server

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// TestPinsThroughTheProxy: with upstream.pins, a chain without a pinned key gives a 502 that
// names upstream.pins, and a pin of the emulator's CA lets the requests through.
func TestPinsThroughTheProxy(t *testing.T) {
	const otherPin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	tests := []struct {
		name   string
		pin    func(caPin string) string
		status int
		want   string
	}{
		{"pinned CA", func(ca string) string { return ca }, 200, `"services"`},
		{"no pinned key in the chain", func(string) string { return otherPin }, 502, "upstream.pins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, func(c *config.Config) {
				data, err := os.ReadFile(c.Upstream.CAFile)
				if err != nil {
					t.Fatal(err)
				}
				block, _ := pem.Decode(data)
				ca, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				c.Upstream.Pins = []string{tt.pin(upstream.Pin(ca))}
			})
			h.serve(t)
			code, body := get(t, h.url("/api/v3/"+h.em.UserID()+"/services"))
			if code != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("GET = %d %s, want %d with %q", code, body, tt.status, tt.want)
			}
		})
	}
}
