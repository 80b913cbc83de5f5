package upstream

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestValidatePin(t *testing.T) {
	good := "sha256/" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		pin, want string
	}{
		{good, ""},
		{"sha1/" + base64.StdEncoding.EncodeToString(make([]byte, 20)), `does not start with "sha256/"`},
		{"sha256/" + base64.StdEncoding.EncodeToString(make([]byte, 31)), "not the base64 of a 32-byte SHA-256"},
		{"sha256/" + base64.RawStdEncoding.EncodeToString(make([]byte, 32)), "not the base64"},
		{"sha256/!!!", "not the base64"},
		{"", `does not start with "sha256/"`},
	}
	for _, tt := range tests {
		t.Run(tt.pin, func(t *testing.T) {
			err := ValidatePin(tt.pin)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidatePin(%q) = %v", tt.pin, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "upstream.pins: ") {
				t.Fatalf("ValidatePin(%q) = %v, want %q", tt.pin, err, tt.want)
			}
		})
	}
}

func TestPin(t *testing.T) {
	p := newPKI(t)
	sum := sha256.Sum256(p.leafCA.RawSubjectPublicKeyInfo)
	if got, want := Pin(p.leafCA), "sha256/"+base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Fatalf("Pin = %s, want %s", got, want)
	}
	if err := ValidatePin(Pin(p.ca)); err != nil {
		t.Fatalf("Pin's output fails ValidatePin: %v", err)
	}
}

// TestPins: a request succeeds when the chain holds a pinned key (leaf or CA), fails with a
// *PinError through a real request when none is, and a reload with the right pin mends it.
func TestPins(t *testing.T) {
	s := newServer(t, newPKI(t), okHandler(), false, 0)
	other := Pin(newPKI(t).leafCA)
	leaf, ca := Pin(s.p.leafCA), Pin(s.p.ca)
	tests := []struct {
		name    string
		pins    []string
		wantErr bool
	}{
		{"no pins", nil, false},
		{"leaf pinned", []string{other, leaf}, false},
		{"CA pinned", []string{ca}, false},
		{"mismatch", []string{other}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTransport(t, s.p, Options{Pins: tt.pins})
			resp, err := get(t, tr, s.url())
			checkPinErr(t, resp, err, tt.wantErr, []string{leaf, ca})
		})
	}
	t.Run("reload from mismatch to match", func(t *testing.T) {
		tr := newTransport(t, s.p, Options{Pins: []string{other}})
		resp, err := get(t, tr, s.url())
		checkPinErr(t, resp, err, true, []string{leaf, ca})
		if err := tr.Reload(s.p.pool, []string{leaf}); err != nil {
			t.Fatal(err)
		}
		resp, err = get(t, tr, s.url())
		checkPinErr(t, resp, err, false, nil)
	})
	t.Run("a resumed session is checked against new pins", func(t *testing.T) {
		tr := newTransport(t, s.p, Options{Pins: []string{leaf}})
		if _, err := get(t, tr, s.url()); err != nil {
			t.Fatal(err)
		}
		if err := tr.Reload(s.p.pool, []string{other}); err != nil {
			t.Fatal(err)
		}
		resp, err := get(t, tr, s.url())
		checkPinErr(t, resp, err, true, []string{leaf, ca})
	})
}

func checkPinErr(t *testing.T, resp *http.Response, err error, want bool, chain []string) {
	t.Helper()
	if !want {
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request failed: %v", err)
		}
		return
	}
	var pe *PinError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want a *PinError", err, err)
	}
	if !slices.Equal(pe.Chain, chain) {
		t.Errorf("PinError.Chain = %v, want %v", pe.Chain, chain)
	}
	if !strings.Contains(err.Error(), "the upstream's certificate key matches none of upstream.pins") {
		t.Errorf("error = %q", err)
	}
}

// TestReloadUnchangedKeepsThePool: a reload that finds the same CA and pins (every SIGHUP that
// changed nothing) keeps the transport, so reloads under load never multiply max_conns; a new
// CA builds a new one.
func TestReloadUnchangedKeepsThePool(t *testing.T) {
	p := newPKI(t)
	tr := newTransport(t, p, Options{MaxConns: 2})
	before := tr.cur.Load()
	for range 8 {
		same := x509.NewCertPool()
		same.AddCert(p.ca)
		if err := tr.Reload(same, nil); err != nil {
			t.Fatal(err)
		}
	}
	if tr.cur.Load() != before {
		t.Error("8 reloads of the same CA built new transports, each with its own max_conns")
	}
	if err := tr.Reload(newPKI(t).pool, nil); err != nil || tr.cur.Load() == before {
		t.Errorf("a new CA kept the old transport (%v)", err)
	}
}
