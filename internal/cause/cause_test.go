package cause

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
)

type rejected struct{}

func (rejected) Error() string  { return "token endpoint answered 401" }
func (rejected) Rejected() bool { return true }

// TestOf: each failure to reach the upstream has its kind and a fix, wrapped as net/http wraps it.
func TestOf(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Get", URL: "https://u:20000/", Err: err} }
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.Canceled, ""},
		{errors.New("request body too large"), ""},
		{wrap(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), Refused},
		{wrap(x509.UnknownAuthorityError{}), TLS},
		{wrap(context.DeadlineExceeded), Timeout},
		{wrap(&net.DNSError{Err: "no such host", Name: "u"}), DNS},
		{wrap(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), Network},
		{fmt.Errorf("no token: %w", rejected{}), Rejected},
	}
	for _, tt := range tests {
		if got := Of(tt.err); got != tt.want || (got != "" && Fix[got] == "") {
			t.Errorf("Of(%v) = %q (fix %q), want %q", tt.err, got, Fix[got], tt.want)
		}
	}
}
