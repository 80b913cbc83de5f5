// Package cause names why the upstream could not be reached, in the same words for clients (502
// and 504 bodies) and operators (status page, /readyz, log). It imports nothing of the project.
package cause

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"syscall"
)

// Kinds of upstream failure, as Kind returns them and /status.json shows them.
const (
	Refused = "refused" // nothing listens at the upstream's address
	TLS     = "tls"     // the handshake or the certificate failed
	Timeout = "timeout" // no answer in time
	DNS     = "dns"     // the host name does not resolve
	Network = "network" // any other failure to reach the upstream
	Status  = "5xx"     // the upstream answered with a server error
	// Rejected is a token endpoint that refused the credential (400, 401 or 403).
	Rejected = "rejected"
)

// Fix is the next step for a person, by kind; "" for a kind that has none.
var Fix = map[string]string{
	Refused: "check upstream.url and that the DBaaS Manager is up",
	TLS:     "download the CA file of this DBaaS Manager from the service dashboard into upstream.ca_file",
	Timeout: "try again later; raise upstream.timeout if it persists",
	DNS:     "check upstream.url and the DNS resolver",
	Network: "try again, and check the network if it persists",
	Status:  "the DBaaS Manager failed; try again later",
	Rejected: "check the credential (auth.api_key_file, auth.api_key_command, DBAAS_API_KEY or auth.source); " +
		"dbaas-proxy doctor says which one is in use and tries it",
}

// rejecter is an error that says whether a credential was refused (tokensource.ExchangeError).
type rejecter interface{ Rejected() bool }

// Of is Kind, or Rejected for a token endpoint that refused the credential.
func Of(err error) string {
	var r rejecter
	if errors.As(err, &r) && r.Rejected() {
		return Rejected
	}
	return Kind(err)
}

// Kind classifies err, a failure to reach the upstream; "" for an error that says nothing about
// the upstream (a cancelled request, a body over its limit, a rejected API key).
func Kind(err error) string {
	var (
		recordErr tls.RecordHeaderError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		dnsErr    *net.DNSError
		netErr    net.Error
		opErr     *net.OpError
	)
	switch {
	case err == nil || errors.Is(err, context.Canceled):
		return ""
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &recordErr):
		return TLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return Timeout
	case errors.As(err, &dnsErr):
		return DNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.As(err, &opErr), errors.As(err, &netErr):
		return Network
	}
	return ""
}
