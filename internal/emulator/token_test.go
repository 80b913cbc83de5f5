package emulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTokenExchange(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		method  string
		version string
		key     func(s *Server) string // "" sends no api_key
		want    int
	}{
		{"valid key v3", Options{}, "GET", "v3", func(s *Server) string { return s.APIKey() }, 200},
		{"valid key v1", Options{}, "GET", "v1", func(s *Server) string { return s.APIKey() }, 200},
		{"valid key v2", Options{}, "GET", "v2", func(s *Server) string { return s.APIKey() }, 200},
		{"missing key", Options{}, "GET", "v3", func(*Server) string { return "" }, 400},
		{"wrong key", Options{}, "GET", "v3", func(*Server) string { return "not-a-key" }, 401},
		{"missing key custom", Options{MissingKeyStatus: 422}, "GET", "v3", func(*Server) string { return "" }, 422},
		{"wrong key custom", Options{WrongKeyStatus: 403}, "GET", "v3", func(*Server) string { return "nope" }, 403},
		{"post", Options{}, "POST", "v3", func(s *Server) string { return s.APIKey() }, 405},
	}
	jwtShape := regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.opts)
			c := newClient(t, s, clientOpts{})
			var hs []string
			if k := tc.key(s); k != "" {
				hs = append(hs, "api_key: "+k)
			}
			a := do(t, c, tc.method, s.URL()+"/api/"+tc.version+"/auth/token", "", hs...)
			if tc.want != 200 {
				wantError(t, a, tc.want)
				if got := s.Counters(); got.TokenRejected != 1 || got.TokenRequests != 1 || got.TokenExchanges != 0 {
					t.Errorf("counters %+v, want 1 rejected of 1", got)
				}
				return
			}
			if a.status != 200 || a.header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q", a.status, a.header.Get("Content-Type"))
			}
			var body map[string]string
			if err := json.Unmarshal(a.body, &body); err != nil || len(body) != 2 {
				t.Fatalf("body %s: want exactly access_token and user_id (%v)", a.body, err)
			}
			if body["user_id"] != s.UserID() || !jwtShape.MatchString(body["access_token"]) {
				t.Errorf("body %s: want user_id %s and a JWT", a.body, s.UserID())
			}
			if got := s.Counters(); got.TokenExchanges != 1 || got.TokenRequests != 1 {
				t.Errorf("counters %+v, want 1 exchange", got)
			}
		})
	}
}

// jwtParts decodes the header and payload of a token.
func jwtParts(t *testing.T, tok string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("base64url: %v", err)
		}
		return decode(t, b)
	}
	return dec(parts[0]), dec(parts[1])
}

func TestTokenClaims(t *testing.T) {
	cases := []struct {
		name     string
		opts     Options
		wantLife float64 // 0: no exp
	}{
		{"default lifetime", Options{}, 3600},
		{"one second", Options{TokenLifetime: time.Second}, 1},
		{"ninety seconds", Options{TokenLifetime: 90 * time.Second}, 90},
		{"omit exp", Options{OmitExp: true}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			tc.opts.Now = clk.Now
			s := start(t, tc.opts)
			tok := tokenFor(t, s, newClient(t, s, clientOpts{}), s.APIKey())
			h, p := jwtParts(t, tok)
			if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] == "" {
				t.Errorf("header %v", h)
			}
			if p["iat"] != float64(clk.Now().Unix()) || p["iss"] != "https://iam.cloud.ibm.com/identity" {
				t.Errorf("iat %v iss %v", p["iat"], p["iss"])
			}
			if acct, _ := p["account"].(map[string]any); acct["bss"] != s.UserID() {
				t.Errorf("account %v, want bss %s", p["account"], s.UserID())
			}
			for _, k := range []string{"sub", "iam_id", "grant_type", "scope", "client_id", "jti"} {
				if _, ok := p[k]; !ok {
					t.Errorf("payload lacks %s", k)
				}
			}
			exp, hasExp := p["exp"]
			switch {
			case tc.wantLife == 0 && hasExp:
				t.Errorf("exp %v present with OmitExp", exp)
			case tc.wantLife != 0 && (!hasExp || exp.(float64)-p["iat"].(float64) != tc.wantLife):
				t.Errorf("exp %v - iat %v, want %v", exp, p["iat"], tc.wantLife)
			}
		})
	}
}

func TestTokensAreUnique(t *testing.T) {
	s := start(t, Options{Now: newClock().Now}) // same second for both
	c := newClient(t, s, clientOpts{})
	if a, b := tokenFor(t, s, c, s.APIKey()), tokenFor(t, s, c, s.APIKey()); a == b {
		t.Error("two exchanges in the same second gave the same token")
	}
}

func TestTokenValidity(t *testing.T) {
	cases := []struct {
		name   string
		opts   Options
		header func(tok string) string
		spoil  func(s *Server, clk *testClock) // what happens between exchange and call
		ver    string
		want   int
	}{
		{"x-auth-token", Options{}, xAuth, nil, "v3", 200},
		{"bearer v3", Options{}, bearer, nil, "v3", 200},
		{"bearer v1 refused", Options{}, bearer, nil, "v1", 401},
		{"x-auth-token v1", Options{}, xAuth, nil, "v1", 200},
		{"x-auth-token v2", Options{}, xAuth, nil, "v2", 200},
		{"no token", Options{}, func(string) string { return "Accept: application/json" }, nil, "v3", 401},
		{"unknown token", Options{}, func(string) string { return "x-auth-token: a.b.c" }, nil, "v3", 401},
		{"custom bad token status", Options{BadTokenStatus: 419}, func(string) string { return "x-auth-token: x" }, nil, "v3", 419},
		{"just before expiry", Options{TokenLifetime: 10 * time.Second}, xAuth,
			func(_ *Server, c *testClock) { c.Add(10*time.Second - time.Nanosecond) }, "v3", 200},
		{"at expiry", Options{TokenLifetime: 10 * time.Second}, xAuth,
			func(_ *Server, c *testClock) { c.Add(10 * time.Second) }, "v3", 401},
		{"expired with omit exp", Options{TokenLifetime: time.Second, OmitExp: true}, xAuth,
			func(_ *Server, c *testClock) { c.Add(time.Second) }, "v3", 401},
		{"revoked", Options{}, xAuth, func(s *Server, _ *testClock) { s.RevokeAll() }, "v3", 401},
		{"key removed keeps token", Options{}, xAuth, func(s *Server, _ *testClock) { s.RemoveAPIKey(s.APIKey()) }, "v3", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			tc.opts.Now = clk.Now
			s := start(t, tc.opts)
			c := newClient(t, s, clientOpts{})
			tok := tokenFor(t, s, c, s.APIKey())
			if tc.spoil != nil {
				tc.spoil(s, clk)
			}
			a := do(t, c, "GET", s.URL()+"/api/"+tc.ver+"/"+s.UserID()+"/services", "", tc.header(tok))
			if tc.want != 200 {
				wantError(t, a, tc.want)
				if got := s.Counters().Unauthorized; got != 1 {
					t.Errorf("Unauthorized = %d, want 1", got)
				}
				return
			}
			if a.status != 200 {
				t.Fatalf("status %d, body %s", a.status, a.body)
			}
		})
	}
}

func xAuth(tok string) string  { return "x-auth-token: " + tok }
func bearer(tok string) string { return "Authorization: Bearer " + tok }

func TestRevokeAllThenNewToken(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{})
	old := tokenFor(t, s, c, s.APIKey())
	s.RevokeAll()
	fresh := tokenFor(t, s, c, s.APIKey())
	url := s.URL() + "/api/v3/" + s.UserID() + "/services"
	wantError(t, do(t, c, "GET", url, "", xAuth(old)), 401)
	if a := do(t, c, "GET", url, "", xAuth(fresh)); a.status != 200 {
		t.Fatalf("fresh token after RevokeAll: status %d", a.status)
	}
}

func TestKeysAndAccounts(t *testing.T) {
	cases := []struct {
		name   string
		opts   Options
		pathID func(s *Server) string
		want   int
	}{
		{"own account", Options{}, func(*Server) string { return "0123456789abcdef0123456789abcdef" }, 200},
		{"foreign account", Options{}, func(s *Server) string { return s.UserID() }, 403},
		{"foreign account custom", Options{ForeignUserStatus: 404}, func(s *Server) string { return s.UserID() }, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.opts)
			c := newClient(t, s, clientOpts{})
			s.AddAPIKey("second-key", "0123456789abcdef0123456789abcdef")
			tok := tokenFor(t, s, c, "second-key")
			a := do(t, c, "GET", s.URL()+"/api/v3/"+tc.pathID(s)+"/services", "", xAuth(tok))
			if tc.want != 200 {
				wantError(t, a, tc.want)
				if got := s.Counters().Forbidden; got != 1 {
					t.Errorf("Forbidden = %d, want 1", got)
				}
				return
			}
			if a.status != 200 || !strings.Contains(string(a.body), "0123456789abcdef0123456789abcdef") {
				t.Fatalf("status %d body %s: want the second account's services", a.status, a.body)
			}
		})
	}
}

func TestRemoveAPIKey(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{})
	s.RemoveAPIKey(s.APIKey())
	wantError(t, do(t, c, "GET", s.URL()+"/api/v3/auth/token", "", "api_key: "+s.APIKey()), http.StatusUnauthorized)
}

func TestAPIKeyAndUserIDShape(t *testing.T) {
	s := start(t, Options{})
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{44}$`).MatchString(s.APIKey()) {
		t.Errorf("APIKey %d chars, want 44 url-safe", len(s.APIKey()))
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(s.UserID()) {
		t.Errorf("UserID %q, want 32 lower-case hex", s.UserID())
	}
}

func TestSetTokenLifetime(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now})
	c := newClient(t, s, clientOpts{})
	s.SetTokenLifetime(5 * time.Second)
	_, p := jwtParts(t, tokenFor(t, s, c, s.APIKey()))
	if life := p["exp"].(float64) - p["iat"].(float64); life != 5 {
		t.Errorf("exp - iat = %v, want 5", life)
	}
}
