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

// pinPrefix starts every pin (the Envoy/HPKP form).
const pinPrefix = "sha256/"

// Pin returns cert's pin as upstream.pins takes it: "sha256/" and the SPKI's SHA-256 in base64.
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return pinPrefix + base64.StdEncoding.EncodeToString(sum[:])
}

// ValidatePin reports whether s is a well-formed pin: "sha256/" and the padded standard base64
// of 32 bytes. The error quotes s and says what is expected.
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
// pinned key, so that the proxy can say so rather than give the generic certificate message.
type PinError struct {
	// Chain holds the pins of the certificates the upstream sent, leaf first.
	Chain []string
}

// Error says that the upstream's key matches none of upstream.pins and lists the chain's pins.
func (e *PinError) Error() string {
	return "upstream: the upstream's certificate key matches none of upstream.pins (the chain's pins: " +
		strings.Join(e.Chain, ", ") + ")"
}

// verifyPins returns a tls.Config.VerifyConnection that requires MatchPins; it runs after the
// CA verification, on resumed sessions too. With no pins it returns nil.
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

// MatchPins reports whether a certificate of one of the verified chains (their CA included)
// has one of pins: the one rule of upstream.pins, for the transport and for doctor.
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
