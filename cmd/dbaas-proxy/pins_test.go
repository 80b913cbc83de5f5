package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// TestPinsCommand: `pins` prints the pin of the certificate the upstream sends and of the CA
// file, in the form upstream.pins takes, and says the chain verifies; a config that pins the
// printed CA pin then serves.
func TestPinsCommand(t *testing.T) {
	e := newEnv(t, "")
	block, _ := pem.Decode([]byte(mustRead(t, e.caFile)))
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runBin(t, nil, "", "pins", "-config", e.config)
	if code != exitOK {
		t.Fatalf("pins: exit %d; stderr:\n%s", code, stderr)
	}
	caPin := upstream.Pin(ca)
	mustContainAll(t, out, "# the chain", "# verified against "+e.caFile, "# the CA file", caPin)
	if n := strings.Count(out, "sha256/"); n < 2 {
		t.Errorf("%d pins printed, want the chain's and the CA's:\n%s", n, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if p, _, ok := strings.Cut(l, "  # "); ok && strings.HasPrefix(l, "sha256/") {
			if err := upstream.ValidatePin(p); err != nil {
				t.Errorf("printed pin %q does not validate: %v", p, err)
			}
		}
	}
	pinned := testkit.WriteFile(t, e.dir, "pinned.yaml", mustRead(t, e.config)+"\n")
	pinned = testkit.WriteFile(t, e.dir, "pinned.yaml", strings.Replace(mustRead(t, pinned), "upstream:\n", "upstream:\n  pins: ["+caPin+"]\n", 1))
	if code, _, stderr := runBin(t, nil, "", "validate", "-config", pinned); code != exitOK {
		t.Errorf("validate with the printed pin: exit %d\n%s", code, stderr)
	}
}

// TestDoctorChecksPins: doctor applies the transport's rule to upstream.pins. A pin of the CA
// file's certificate passes although the upstream does not send that certificate (the rule is
// on the verified chain, which ends in the CA); a pin of no certificate fails, naming the key.
func TestDoctorChecksPins(t *testing.T) {
	e := newEnv(t, "")
	block, _ := pem.Decode([]byte(mustRead(t, e.caFile)))
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pin string
		code      int
		want      string
	}{
		{"the CA's pin", upstream.Pin(ca), exitOK, "ok    pins"},
		{"no certificate's pin", "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", exitFailure, "upstream.pins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testkit.WriteFile(t, testkit.TempDir(t), "pinned.yaml",
				strings.Replace(mustRead(t, e.config), "upstream:\n", "upstream:\n  pins: ["+tt.pin+"]\n", 1))
			code, out, stderr := runBin(t, nil, "", "doctor", "-config", cfg)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("doctor: exit %d, want %d with %q; stdout:\n%s\nstderr:\n%s", code, tt.code, tt.want, out, stderr)
			}
		})
	}
}

// TestDoctorPinsTheCAItDoesNotReceive: an upstream that sends its leaf alone (as servers may),
// with upstream.pins holding the CA's pin: the proxy's transport accepts it (the verified chain
// ends in the CA of ca_file), and so must doctor's pins check.
func TestDoctorPinsTheCAItDoesNotReceive(t *testing.T) {
	ca := testkit.NewCA(t, "leaf-only CA")
	leaf := ca.Issue(t, "leaf-only upstream", true)
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}} // no CA in the chain
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := testkit.TempDir(t)
	caFile, _ := ca.Write(t, dir, "ca")
	cfg := testkit.WriteFile(t, dir, "c.yaml", fmt.Sprintf("upstream:\n  url: %s\n  ca_file: %s\n  pins: [%s]\n",
		srv.URL, caFile, upstream.Pin(ca.Cert)))
	_, out, stderr := runBin(t, []string{"DBAAS_API_KEY=" + strings.Repeat("k", 40)}, "", "doctor", "-config", cfg)
	if !strings.Contains(out, "ok    pins") {
		t.Errorf("doctor did not pass the pins check for the CA's pin; stdout:\n%s\nstderr:\n%s", out, stderr)
	}
}

// TestDialChainSendsServerName: doctor and pins send the SNI the proxy's transport sends,
// upstream.server_name when it is set, not the URL's host.
func TestDialChainSendsServerName(t *testing.T) {
	sni := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni <- h.ServerName
		return nil, nil
	}}
	srv.StartTLS()
	defer srv.Close()
	cfg := config.Defaults()
	cfg.Upstream.URL = srv.URL
	cfg.Upstream.ServerName = "api.example.test"
	pc, err := dialChain(t.Context(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-sni; got != "api.example.test" || pc.name != got {
		t.Errorf("SNI %q, verified for %q; want upstream.server_name", got, pc.name)
	}
}
