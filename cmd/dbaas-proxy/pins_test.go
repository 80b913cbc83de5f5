package main

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

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
