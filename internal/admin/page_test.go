package admin

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"

	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// fakeAccessToken stands for a real access token: the page must never show it.
const fakeAccessToken = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3NDE5NTcyMDB9.c2VjcmV0LXNpZ25hdHVyZQ"

// fingerprint is tokensource.Token.Fingerprint: the first 12 hex digits of the token's SHA-256.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}

func TestStatusPage(t *testing.T) {
	state := tokensource.Status{HasToken: true, UserID: fakeUserID, Expiry: t0.Add(41*time.Minute + 2*time.Second),
		Fingerprint: fingerprint(fakeAccessToken), IssuedAt: t0.Add(-18 * time.Minute), LastRefresh: t0.Add(-18 * time.Minute),
		LastError: errors.New("tokensource: token endpoint answered 503: busy"), NextAttempt: t0.Add(7 * time.Second),
		Exchanges: 5, Failures: 2}
	recent := NewRecent(10)
	for range 15 {
		recent.Add(&proxy.Record{Time: t0.Add(-time.Minute), Status: 200})
	}
	recent.Add(&proxy.Record{Time: t0.Add(-time.Minute), Status: 500})
	recent.Add(&proxy.Record{Time: t0.Add(-time.Minute), Status: 502})
	recent.Add(&proxy.Record{Time: t0.Add(-2 * time.Second), Method: http.MethodGet,
		Path: "/api/v3/" + fakeUserID + "/clusters/older", Status: 200, Duration: 10 * time.Millisecond})
	recent.Add(&proxy.Record{Time: t0.Add(-time.Second), Method: http.MethodPatch,
		Path: "/api/v3/" + fakeUserID + "/clusters/c-42/resource", Status: 202, Duration: 1234 * time.Millisecond,
		Replayed: true, ClientName: "ci-runner"})
	opts := baseOptions()
	opts.Token = func() tokensource.Status { return state }
	opts.Recent = recent
	got := do(t, serve(t, opts), http.MethodGet, "/", "", nil)
	if got.status != http.StatusOK {
		t.Fatalf("status %d: %s", got.status, got.body)
	}
	if ct := got.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	assertSecurityHeaders(t, got.header)
	for _, want := range []string{
		`id="token-state"`, `id="last-requests"`, `id="request-counts"`,
		`<meta http-equiv="refresh" content="5">`,
		"v1.2.3", "https://dbaas900.hyperp-dbaas.cloud.ibm.com:20000", fakeUserID,
		"expires in 41m2s", state.Fingerprint, "2025-03-14 11:42:00 UTC (18m0s ago)",
		"token endpoint answered 503: busy", "2025-03-14 12:00:07 UTC (in 7s)",
		"5 <span class=\"muted\">(2 failed)",
		"17", "2xx", "5xx",
		"/api/v3/" + fakeUserID + "/clusters/c-42/resource", "PATCH", "202", "1.234s", "replayed", "ci-runner",
		"11:59:59.000",
	} {
		if !strings.Contains(got.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(got.body, fakeAccessToken) || strings.Contains(got.body, "c2VjcmV0") {
		t.Error("page shows the access token")
	}
	if i, j := strings.Index(got.body, "c-42/resource"), strings.Index(got.body, "clusters/older"); i < 0 || j < i {
		t.Error("the newest request is not listed first")
	}
}

func TestStatusPageStates(t *testing.T) {
	tests := []struct {
		name   string
		state  tokensource.Status
		ready  bool
		reason string
		want   []string
	}{
		{"no token", tokensource.Status{}, false, "no token yet: the token endpoint rejected the API key (401)",
			[]string{"no token", "not ready", `id="ready-reason"`, "rejected the API key (401)", "never", "no requests yet"}},
		{"expired", tokensource.Status{HasToken: true, UserID: fakeUserID, Expiry: t0.Add(-3 * time.Second)}, false, "token expired",
			[]string{"expired 3s ago", "card warn"}},
		{"unknown expiry", tokensource.Status{HasToken: true}, true, "", []string{"expiry unknown", `class="badge ok"`}},
		{"old key's token kept", tokensource.Status{HasToken: true, OldToken: true}, true,
			"serving the token of the previous credential until it expires",
			[]string{`class="badge ok"`, `id="ready-reason"`, "serving the token of the previous credential"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			opts.Token = func() tokensource.Status { return tt.state }
			opts.Ready = func(string) (bool, string) { return tt.ready, tt.reason }
			got := do(t, serve(t, opts), http.MethodGet, "/", "", nil)
			if got.status != http.StatusOK {
				t.Fatalf("status %d", got.status)
			}
			for _, want := range tt.want {
				if !strings.Contains(got.body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
		})
	}
}

func TestStatusPageEscapesAndLimits(t *testing.T) {
	recent := NewRecent(100)
	for i := range 60 {
		recent.Add(&proxy.Record{Time: t0, Method: http.MethodGet, Path: fmt.Sprintf("/r/%d", i), Status: 200})
	}
	recent.Add(&proxy.Record{Time: t0, Method: "GET", Path: "/<script>alert(1)</script>", Status: 404})
	opts := baseOptions()
	opts.Recent = recent
	got := do(t, serve(t, opts), http.MethodGet, "/", "", nil)
	if strings.Contains(got.body, "<script>") {
		t.Error("a request path reached the page unescaped")
	}
	if !strings.Contains(got.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the escaped path is missing")
	}
	if n := strings.Count(got.body, `<tr class="req">`); n != pageRows {
		t.Errorf("%d request rows, want %d", n, pageRows)
	}
}

func TestStatusPageCSPAdmitsItsStyle(t *testing.T) {
	got := do(t, serve(t, baseOptions()), http.MethodGet, "/", "", nil)
	start := strings.Index(got.body, "<style>")
	end := strings.Index(got.body, "</style>")
	if start < 0 || end < start {
		t.Fatal("no style element")
	}
	sum := sha256.Sum256([]byte(got.body[start+len("<style>") : end]))
	want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if csp := got.header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
		t.Fatalf("CSP %q does not admit the page's style (%s)", csp, want)
	}
	if strings.Contains(got.body, "<script") {
		t.Error("the page carries a script")
	}
}

func TestStatusPageHead(t *testing.T) {
	got := do(t, serve(t, baseOptions()), http.MethodHead, "/", "", nil)
	if got.status != http.StatusOK || got.body != "" {
		t.Fatalf("HEAD: %d %q", got.status, got.body)
	}
}
