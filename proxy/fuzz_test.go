package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

const (
	fuzzToken = "the-proxys-own-token"
	fuzzUser  = "0123456789abcdef0123456789abcdef"
)

// staticSource always gives the same token.
type staticSource struct{ tok tokensource.Token }

func (s staticSource) Token(context.Context) (tokensource.Token, error) { return s.tok, nil }

// recordingTransport keeps the request it is sent and answers 204.
type recordingTransport struct{ got *http.Request }

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	rt.got = req
	return &http.Response{StatusCode: http.StatusNoContent, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// credentialNames are the header names, lower case with '-' for '_', that carry a credential.
var credentialNames = map[string]bool{
	"x-auth-token": true, "authorization": true, "api-key": true, "proxy-authorization": true, "cookie": true,
}

// FuzzRewrite sends a request, as net/http's server would parse it from the wire, through the
// real proxy handler to a recording upstream. The forwarded request carries no credential but
// the proxy's own token, and its escaped path and query are the client's, but for the /me/
// rewrite. headers holds header lines separated by "\n".
func FuzzRewrite(f *testing.F) {
	f.Add("GET", "/api/v3/me/services", "X-Auth-Token: spoof\napi_key: k\nAPI_KEY: k2")
	f.Add("POST", "/api/v3/"+fuzzUser+"/_echo//a%2Fb?x=1;y=2", "Authorization: Bearer b\nauthorization: Basic c\nCookie: s=1")
	f.Add("GET", "/api/v3/me/x?a=1&API_KEY=k;access%5Ftoken=t&b", "")
	f.Fuzz(func(t *testing.T, method, target, headers string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
			strings.ReplaceAll(headers, "\n", "\r\n") + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http's server refuses it too
		}
		in, query := req.URL.RawPath, req.URL.RawQuery // in: the path exactly as on the wire
		if in == "" {
			in = req.URL.EscapedPath()
		}
		rt := &recordingTransport{}
		src := staticSource{tokensource.Token{AccessToken: fuzzToken, UserID: fuzzUser}}
		up := &url.URL{Scheme: "https", Host: "upstream.test:20000"}
		ph, err := proxy.New(proxy.Options{Upstream: up, Logger: zerolog.Nop(),
			Transport: &tokensource.Transport{Cache: tokensource.NewCached(src, tokensource.CachedOptions{}), Base: rt}})
		if err != nil {
			t.Fatal(err)
		}
		ph.ServeHTTP(httptest.NewRecorder(), req)
		version, rest, api := splitVersion(in)
		switch {
		case !strings.HasPrefix(in, "/api/") || (api && rest == "/auth/token"):
			if rt.got != nil {
				t.Fatalf("%s %q was forwarded; want it answered locally", method, in)
			}
			return
		case rt.got == nil:
			return // refused (e.g. a body that cannot be read): nothing to check
		}
		want := in
		if api && (rest == "/me" || strings.HasPrefix(rest, "/me/")) {
			want = "/api/" + version + "/" + fuzzUser + strings.TrimPrefix(rest, "/me")
		}
		checkForwarded(t, rt.got, up.Host, want, query)
	})
}

// checkForwarded checks a forwarded request: to host, with the path want (see samePath) and
// the query byte for byte, and no credential header but the proxy's own x-auth-token.
func checkForwarded(t *testing.T, out *http.Request, host, want, query string) {
	t.Helper()
	got := out.URL.EscapedPath()
	switch {
	case !samePath(got, want):
		t.Errorf("upstream got path %q, want %q", got, want)
	case secretParam(out.URL.RawQuery):
		t.Errorf("upstream got a credential in the query %q", out.URL.RawQuery)
	case !secretParam(query) && out.URL.RawQuery != query:
		t.Errorf("upstream got query %q, want %q byte for byte", out.URL.RawQuery, query)
	}
	if out.URL.Host != host || out.Host != "" {
		t.Errorf("forwarded to %q with Host %q, want %q", out.URL.Host, out.Host, host)
	}
	for _, h := range []http.Header{out.Header, out.Trailer} {
		for name, vals := range h {
			norm := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
			if credentialNames[norm] && (name != "X-Auth-Token" || len(vals) != 1 || vals[0] != fuzzToken) {
				t.Errorf("forwarded credential header %q: %q", name, vals)
			}
		}
	}
	if out.Header.Get("X-Auth-Token") != fuzzToken {
		t.Error("the proxy's token was not attached")
	}
}

// secretParam reports whether the raw query q has a parameter, between '&' or ';', whose
// percent-decoded name is a credential name (any case, '_' or '-').
func secretParam(q string) bool {
	for _, p := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, _ := strings.Cut(p, "=")
		if dec, err := url.QueryUnescape(name); err == nil {
			name = dec
		}
		switch strings.ToLower(strings.ReplaceAll(name, "_", "-")) {
		case "api-key", "apikey", "access-token", "x-auth-token":
			return true
		}
	}
	return false
}

// splitVersion splits /api/v{N}/rest into "v{N}" and rest; ok is false for other paths.
func splitVersion(path string) (version, rest string, ok bool) {
	p, found := strings.CutPrefix(path, "/api/v")
	if !found {
		return "", "", false
	}
	n := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' })
	if n < 0 {
		n = len(p)
	}
	if n == 0 || (n < len(p) && p[n] != '/') {
		return "", "", false
	}
	return "v" + p[:n], p[n:], true
}

// samePath reports whether the upstream's escaped path got is the client's want: the same
// bytes when want is validly escaped; else (want holds bytes that must be escaped on the wire,
// such as '"' or UTF-8) the same segments, each decoding to the same bytes.
func samePath(got, want string) bool {
	if p, err := url.PathUnescape(want); err == nil && (&url.URL{Path: p, RawPath: want}).EscapedPath() == want {
		return got == want
	}
	g, w := strings.Split(got, "/"), strings.Split(want, "/")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		a, errA := url.PathUnescape(g[i])
		b, errB := url.PathUnescape(w[i])
		if errA != nil || errB != nil || a != b {
			return false
		}
	}
	return true
}

// TestOddTargetsOnTheWire sends request targets that net/http accepts but net/url would
// normalise (FuzzRewrite's findings) through the proxy to the emulator, which records the path
// and query exactly as they arrived.
func TestOddTargetsOnTheWire(t *testing.T) {
	h := newHarness(t, setup{})
	api := "/api/v3/" + h.em.UserID()
	tests := []struct{ name, target, path, query string }{
		{"semicolons in the query", api + "/services?b=1;a=2", api + "/services", "b=1;a=2"},
		{"a bad escape in the query", api + "/services?z=%zz&a=1", api + "/services", "z=%zz&a=1"},
		{"a raw quote beside an encoded slash", api + `/_echo/a%2Fb/"{x}`, api + "/_echo/a%2Fb/%22%7Bx%7D", ""},
		{"UTF-8 beside an escape, through /me/", "/api/v3/me/_echo/caf\u00e9%41", api + "/_echo/caf%C3%A9%41", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", h.front.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", tt.target)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if a := h.lastArrival(); resp.StatusCode != http.StatusOK || a.Path != tt.path || a.RawQuery != tt.query {
				t.Errorf("status %d; upstream got %q ? %q, want %q ? %q", resp.StatusCode, a.Path, a.RawQuery, tt.path, tt.query)
			}
		})
	}
}
