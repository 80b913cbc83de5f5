package upstream

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// pinPrefix starts every pin: the Envoy/HPKP form sha256/<base64 of the SHA-256 of the
// certificate's SubjectPublicKeyInfo>.
const pinPrefix = "sha256/"

// Pin returns cert's SPKI pin in the form upstream.pins takes: "sha256/" and the standard
// base64 of the SHA-256 of its SubjectPublicKeyInfo.
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return pinPrefix + base64.StdEncoding.EncodeToString(sum[:])
}

// ValidatePin reports whether s is a well-formed pin: "sha256/" and the standard base64 (with
// padding) of 32 bytes. The error quotes s and says what is expected; config validation calls it
// for each entry of upstream.pins.
func ValidatePin(s string) error {
	b64, ok := strings.CutPrefix(s, pinPrefix)
	if !ok {
		return fmt.Errorf("upstream.pins: %q does not start with %q (expected sha256/<base64 of the SHA-256 of the SubjectPublicKeyInfo>; `dbaas-proxy pins` prints them)", s, pinPrefix)
	}
	sum, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(sum) != sha256.Size {
		return fmt.Errorf("upstream.pins: %q is not the base64 of a 32-byte SHA-256 (expected 44 characters ending in \"=\")", s)
	}
	return nil
}

// PinError is the error of a connection whose verified chain holds no certificate with a
// pinned key. The proxy's ErrorHandler recognises it with errors.As to say so instead of giving
// the generic certificate message.
type PinError struct {
	// Chain holds the pins of the certificates the upstream sent, leaf first.
	Chain []string
}

// Error says that the upstream's key matches none of upstream.pins and lists the chain's pins.
func (e *PinError) Error() string {
	return "upstream: the upstream's certificate key matches none of upstream.pins (the chain's pins: " +
		strings.Join(e.Chain, ", ") + ")"
}

// verifyPins returns a tls.Config.VerifyConnection that accepts a connection only when one
// certificate of a chain verified against the CA pool has a pinned key (MatchPins). It runs
// after the normal verification against the CA pool, and on resumed sessions too. With no pins
// it returns nil: no check.
func verifyPins(pins []string) func(tls.ConnectionState) error {
	if len(pins) == 0 {
		return nil
	}
	return func(cs tls.ConnectionState) error {
		if MatchPins(pins, cs.VerifiedChains) {
			return nil
		}
		e := &PinError{}
		for _, c := range cs.PeerCertificates {
			e.Chain = append(e.Chain, Pin(c))
		}
		return e
	}
}

// MatchPins reports whether a certificate of one of the verified chains (the CA that signed
// them included) has one of pins: the one rule of upstream.pins, for the transport and for
// doctor.
func MatchPins(pins []string, chains [][]*x509.Certificate) bool {
	for _, chain := range chains {
		for _, c := range chain {
			if slices.Contains(pins, Pin(c)) {
				return true
			}
		}
	}
	return false
}
