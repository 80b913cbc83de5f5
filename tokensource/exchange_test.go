package tokensource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

const testKey = "Zx9-secretAPIkey_0123456789abcdefghijklmnopq"

// tokenServer is a fake token endpoint over real TLS on loopback.
func tokenServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func testExchangeOptions(srv *httptest.Server, log zerolog.Logger) ExchangeOptions {
	return ExchangeOptions{
		URL:    srv.URL + "/api/v1/auth/token",
		Client: srv.Client(),
		Key:    func() (string, error) { return testKey, nil },
		Now:    func() time.Time { return t0 },
		Logger: log,
	}
}

func newTestExchange(srv *httptest.Server, log zerolog.Logger) *Exchange {
	return NewExchange(testExchangeOptions(srv, log))
}

func TestExchangeRequestShape(t *testing.T) {
	var got atomic.Pointer[http.Request]
	jwt := makeJWT(map[string]any{"exp": t0.Unix() + 3600, "iat": t0.Unix() - 5})
	srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Clone(context.Background()))
		_, _ = w.Write([]byte(`{"access_token":"` + jwt + `","user_id":"acc-1"}`))
	})
	tok, err := newTestExchange(srv, zerolog.Nop()).Token(ctxTimeout(t))
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	r := got.Load()
	checks := []struct{ name, got, want string }{
		{"method", r.Method, http.MethodGet},
		{"path", r.URL.Path, "/api/v1/auth/token"},
		{"api_key header", r.Header.Get("api_key"), testKey},
		{"accept header", r.Header.Get("Accept"), "application/json"},
		{"access token", tok.AccessToken, jwt},
		{"user id", tok.UserID, "acc-1"},
		{"expiry", tok.Expiry.UTC().String(), t0.Add(time.Hour).String()},
		{"issued at", tok.IssuedAt.UTC().String(), t0.Add(-5 * time.Second).String()},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %q, want %q", c.got, c.want)
			}
		})
	}
	if r.ContentLength != 0 {
		t.Errorf("request had a body of %d bytes, want none", r.ContentLength)
	}
}

func TestExchangeAnswers(t *testing.T) {
	huge := strings.Repeat("x", 100<<10)
	tests := []struct {
		name      string
		status    int
		body      string
		want      string // substring of the error; "" means success
		rejected  bool
		temporary bool
		typed     string // "exchange", "response" or ""
		userID    string // the user id of a successful exchange
	}{
		{name: "ok", status: 200, userID: "u", body: `{"access_token":"` + makeJWT(map[string]any{"exp": 2e9}) + `","user_id":"u"}`},
		{name: "400 missing key", status: 400, body: `{"code":400,"message":"the API key is needed"}`,
			want: "tokensource: the DBaaS token endpoint 127.0.0.1:", rejected: true, typed: "exchange"},
		{name: "401 wrong key", status: 401, body: `{"code":401}`, want: "answered 401 Unauthorized", rejected: true, typed: "exchange"},
		{name: "403", status: 403, want: "answered 403 Forbidden", rejected: true, typed: "exchange"},
		{name: "404 neither", status: 404, want: "answered 404 Not Found", typed: "exchange"},
		{name: "429", status: 429, want: "answered 429", temporary: true, typed: "exchange"},
		{name: "500", status: 500, body: "boom", want: "answered 500 Internal Server Error: boom", temporary: true, typed: "exchange"},
		{name: "503", status: 503, want: "answered 503", temporary: true, typed: "exchange"},
		{name: "bad JSON", status: 200, body: "<html>", want: "malformed token response: not the expected JSON object", typed: "response"},
		{name: "JSON array", status: 200, body: "[1]", want: "not the expected JSON object", typed: "response"},
		{name: "token not a string", status: 200, body: `{"access_token":1,"user_id":"u"}`, want: "not the expected JSON object", typed: "response"},
		{name: "missing access_token", status: 200, body: `{"user_id":"u"}`, want: "malformed token response: no access_token", typed: "response"},
		{name: "token with CR LF", status: 200, body: `{"access_token":"a.b.c\r\nX-Evil: 1","user_id":"u"}`, want: "a header cannot carry", typed: "response"},
		{name: "missing user_id: account.bss", status: 200, userID: "acc-9",
			body: `{"access_token":"` + makeJWT(map[string]any{"exp": 2e9, "account": map[string]any{"bss": "acc-9"}}) + `"}`},
		{name: "missing user_id, opaque token", status: 200, body: `{"access_token":"opaque"}`},
		{name: "huge body capped", status: 200, body: `{"access_token":"` + huge + `","user_id":"u"}`, want: "larger than 64 KiB", typed: "response"},
		{name: "huge error body truncated", status: 502, body: huge, want: "answered 502 Bad Gateway: xxx", temporary: true, typed: "exchange"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			tok, err := newTestExchange(srv, zerolog.Nop()).Token(ctxTimeout(t))
			if tt.want == "" {
				if err != nil || tok.AccessToken == "" || tok.UserID != tt.userID {
					t.Fatalf("Token = %v, %v; want a token of user %q", tok, err, tt.userID)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long; the body should be cut to 256", len(err.Error()))
			}
			var xe *ExchangeError
			var re *ResponseError
			if got := errors.As(err, &xe); got != (tt.typed == "exchange") {
				t.Fatalf("errors.As(*ExchangeError) = %v, want %v", got, !got)
			}
			if got := errors.As(err, &re); got != (tt.typed == "response") {
				t.Fatalf("errors.As(*ResponseError) = %v, want %v", got, !got)
			}
			if xe != nil {
				if xe.Status != tt.status || xe.Rejected() != tt.rejected || xe.Temporary() != tt.temporary {
					t.Errorf("status %d rejected %v temporary %v, want %d %v %v",
						xe.Status, xe.Rejected(), xe.Temporary(), tt.status, tt.rejected, tt.temporary)
				}
				if len(xe.Body) > maxErrorBody {
					t.Errorf("Body is %d bytes, want at most %d", len(xe.Body), maxErrorBody)
				}
			}
		})
	}
}

func TestExchangeRedactsKeyInErrorBody(t *testing.T) {
	srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"key ` + r.Header.Get("api_key") + ` is revoked"}`))
	})
	_, err := newTestExchange(srv, zerolog.Nop()).Token(ctxTimeout(t))
	var xe *ExchangeError
	if !errors.As(err, &xe) {
		t.Fatalf("error %v, want an *ExchangeError", err)
	}
	if strings.Contains(err.Error(), testKey) || !strings.Contains(xe.Body, "key [redacted] is revoked") {
		t.Errorf("Body %q: want the key replaced by [redacted]", xe.Body)
	}
}

func TestExchangeNoExpiryUsesDefaultLifetime(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		lifetime time.Duration
		want     time.Duration
	}{
		{"opaque token, default", "opaque-token", 0, 55 * time.Minute},
		{"JWT without exp, set lifetime", makeJWT(map[string]any{"iat": t0.Unix()}), 10 * time.Minute, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(`{"access_token":"` + tt.token + `","user_id":"u"}`))
			})
			var logs testkit.SyncBuffer
			opts := testExchangeOptions(srv, zerolog.New(&logs))
			opts.DefaultLifetime = tt.lifetime
			tok, err := NewExchange(opts).Token(ctxTimeout(t))
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if !tok.Expiry.Equal(t0.Add(tt.want)) || !tok.IssuedAt.Equal(t0) {
				t.Errorf("Expiry %v IssuedAt %v, want %v and %v", tok.Expiry, tok.IssuedAt, t0.Add(tt.want), t0)
			}
			if !strings.Contains(logs.String(), "assuming the default lifetime") || !strings.Contains(logs.String(), `"level":"info"`) {
				t.Errorf("log %q: want an info line about the default lifetime", logs.String())
			}
		})
	}
}

func TestExchangeFailures(t *testing.T) {
	srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {})
	closedURL := srv.URL
	srv.Close()
	keyErr := errors.New("vault sealed")
	tests := []struct {
		name string
		opts ExchangeOptions
		want string
		is   error
	}{
		{"network error", ExchangeOptions{URL: closedURL, Client: srv.Client(), Key: func() (string, error) { return testKey, nil }},
			"tokensource: the DBaaS token endpoint 127.0.0.1:", nil},
		{"key error", ExchangeOptions{URL: closedURL, Client: srv.Client(), Key: func() (string, error) { return "", keyErr }},
			"tokensource: getting the API key: vault sealed", keyErr},
		{"empty key", ExchangeOptions{URL: closedURL, Client: srv.Client(), Key: func() (string, error) { return "", nil }},
			"tokensource: the API key is empty", nil},
		{"no client", ExchangeOptions{URL: closedURL, Key: func() (string, error) { return testKey, nil }},
			"needs a URL, a Client and a Key", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewExchange(tt.opts).Token(ctxTimeout(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q contains the key", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}
