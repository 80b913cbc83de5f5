package proxy_test

import (
	"net/http"
	"testing"
)

// TestGenericForwardsEveryPath: with Options.Generic every path goes upstream as sent, the
// DBaaS token path and paths outside /api/ included, with the token; nothing is answered
// locally.
func TestGenericForwardsEveryPath(t *testing.T) {
	h := newHarness(t, setup{generic: true, header: "authorization"})
	for _, path := range []string{"/", "/v5/ibm/deployments", "/api/v1/auth/token", "/api/v3/me/services"} {
		h.do(http.MethodGet, path+"?x=1", nil, nil)
		got := h.lastArrival()
		if got.Path != path || got.RawQuery != "x=1" {
			t.Errorf("GET %s?x=1 arrived as %s?%s", path, got.Path, got.RawQuery)
		}
		if auth := got.Header.Get("Authorization"); len(auth) < 20 || auth[:7] != "Bearer " {
			t.Errorf("GET %s: Authorization %q, want the token", path, auth)
		}
	}
}
