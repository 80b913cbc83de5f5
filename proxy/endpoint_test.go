package proxy_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// failingSource fails every exchange with err.
type failingSource struct{ err error }

func (s failingSource) Token(context.Context) (tokensource.Token, error) {
	return tokensource.Token{}, s.err
}

// TestTokenFailureNamesTheEndpoint: when no token can be had, the client's error names the
// endpoint that failed (IAM, the metadata service), not the DBaaS Manager upstream.
func TestTokenFailureNamesTheEndpoint(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "https://iam.test/identity/token", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name   string
		err    error
		status int
		want   string
	}{
		{"IAM unreachable", &tokensource.ExchangeError{Endpoint: "IBM Cloud IAM", Err: refused},
			http.StatusBadGateway, "IBM Cloud IAM|iam.test"},
		{"IAM rejects the key", &tokensource.ExchangeError{Status: 400, Endpoint: "IBM Cloud IAM", Code: "BXNIM0415E",
			Message: "Provided API key could not be found."}, http.StatusServiceUnavailable,
			"IBM Cloud IAM rejected the API key (400 BXNIM0415E: Provided API key could not be found.)"},
		{"the exchange's own timeout", &tokensource.ExchangeError{Endpoint: "the DBaaS token endpoint dbaas.test",
			Err: &url.Error{Op: "Get", URL: "https://dbaas.test/api/v1/auth/token", Err: context.DeadlineExceeded}},
			http.StatusGatewayTimeout, "the DBaaS token endpoint dbaas.test did not answer in time"},
		{"metadata service down", &tokensource.ExchangeError{Status: 503, Endpoint: "the VPC metadata service"},
			http.StatusServiceUnavailable, "the VPC metadata service answered 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEdge(t, edgeSetup{source: failingSource{tt.err}})
			code, _, body := e.raw(t, http.MethodGet, "/api/v3/"+fuzzUser+"/services", nil, "")
			named := false
			for _, w := range strings.Split(tt.want, "|") {
				named = named || strings.Contains(body, w)
			}
			if code != tt.status || !named || strings.Contains(body, "the upstream") || strings.Contains(body, "upstream.timeout") {
				t.Errorf("%d %s; want %d naming %q, not the upstream", code, body, tt.status, tt.want)
			}
		})
	}
}
