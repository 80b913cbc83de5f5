package proxy_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// TestMeRewriteRefusesOddUserIDs: a user id that is not a plain path segment is never put into
// a path: the /me/ rewrite answers 502 and forwards nothing.
func TestMeRewriteRefusesOddUserIDs(t *testing.T) {
	for _, uid := range []string{"", "ab%2Fcd", "ab%cd", "a/b", "a?b", "a#b", "a b", `a"b`, "..", ".", "caf\u00e9", "a\\b", "a;b"} {
		t.Run(uid, func(t *testing.T) {
			e := newEdge(t, edgeSetup{source: staticSource{tokensource.Token{AccessToken: fuzzToken, UserID: uid,
				Expiry: time.Now().Add(time.Hour)}}})
			code, _, body := e.raw(t, "GET", "/api/v3/me/services", nil, "")
			if c, msg := jsonError(t, []byte(body)); code != http.StatusBadGateway || c != 502 || !strings.Contains(msg, "user id") {
				t.Errorf("status %d %q, want 502 about the user id", code, msg)
			}
			if got := e.up.arrivals(); len(got) != 0 {
				t.Errorf("forwarded as %q", got[0].uri)
			}
		})
	}
}

// TestMeRewriteBare: /api/vN/me alone becomes /api/vN/<user_id>.
func TestMeRewriteBare(t *testing.T) {
	e := newEdge(t, edgeSetup{})
	for _, v := range []string{"v1", "v3"} {
		if code, _, _ := e.raw(t, "GET", "/api/"+v+"/me", nil, ""); code != 200 {
			t.Fatalf("status %d", code)
		}
		got := e.up.arrivals()
		if uri := got[len(got)-1].uri; uri != "/api/"+v+"/"+fuzzUser {
			t.Errorf("upstream got %q, want /api/%s/%s", uri, v, fuzzUser)
		}
	}
}

// TestMeRewriteKeepsRawPath: the rewritten request carries the client's escapes (RawPath), so
// %2F stays %2F and a quote is escaped as the rest of the proxy forwards it.
func TestMeRewriteKeepsRawPath(t *testing.T) {
	e := newEdge(t, edgeSetup{})
	tests := []struct{ sent, want string }{
		{"/api/v3/me/x/a%2Fb", "/api/v3/" + fuzzUser + "/x/a%2Fb"},
		{"/api/v3/me/x/a%2fb?q=1", "/api/v3/" + fuzzUser + "/x/a%2fb?q=1"},
		{`/api/v3/me/x/a%2Fb"c`, "/api/v3/" + fuzzUser + "/x/a%2Fb%22c"},
	}
	for _, tt := range tests {
		t.Run(tt.sent, func(t *testing.T) {
			if code, _, _ := e.raw(t, "GET", tt.sent, nil, ""); code != 200 {
				t.Fatalf("status %d", code)
			}
			got := e.up.arrivals()
			if uri := got[len(got)-1].uri; uri != tt.want {
				t.Errorf("upstream got %q, want %q", uri, tt.want)
			}
		})
	}
}

// TestLocalTokenEndpointMethodsAndExpiry: the local token endpoint answers GET and HEAD only,
// and its placeholder carries the real token's iat and exp.
func TestLocalTokenEndpointMethodsAndExpiry(t *testing.T) {
	iat, exp := time.Unix(1_700_000_000, 0), time.Unix(1_700_003_300, 0)
	e := newEdge(t, edgeSetup{source: staticSource{tokensource.Token{AccessToken: fuzzToken, UserID: fuzzUser, IssuedAt: iat, Expiry: exp}}})
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "PATCH"} {
		code, hdr, body := e.raw(t, m, "/api/v1/auth/token", []string{"Content-Length: 0"}, "")
		if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, HEAD" || !strings.Contains(body, `"code":405`) {
			t.Errorf("%s = %d Allow %q (%s), want 405 with Allow: GET, HEAD", m, code, hdr.Get("Allow"), body)
		}
	}
	if code, _, _ := e.raw(t, "HEAD", "/api/v1/auth/token", nil, ""); code != 200 {
		t.Errorf("HEAD = %d", code)
	}
	code, _, body := e.raw(t, "GET", "/api/v1/auth/token", nil, "")
	var reply struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &reply); code != 200 || err != nil {
		t.Fatalf("GET = %d %s", code, body)
	}
	parts := strings.Split(reply.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("placeholder %q is not JWT-shaped", reply.AccessToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct{ Iat, Exp int64 }
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("payload %q: %v", payload, err)
	}
	if claims.Exp != exp.Unix() || claims.Iat != iat.Unix() || claims.Exp <= claims.Iat {
		t.Errorf("iat %d exp %d, want %d and %d (exp after iat)", claims.Iat, claims.Exp, iat.Unix(), exp.Unix())
	}
	if strings.Contains(body, fuzzToken) {
		t.Error("the local token endpoint gave out the real token")
	}
	if got := e.up.arrivals(); len(got) != 0 {
		t.Errorf("the upstream got %q", got[0].uri)
	}
}
