package inbound

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// isTraversal is the fuzz oracle, written independently of hasDotSegment: it decodes the
// escaped path once, as a server would, splits it at "/" and "\", and looks for a segment
// whose name (before any ";") is "." or "..".
func isTraversal(escaped string) bool {
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		return false
	}
	for _, seg := range strings.FieldsFunc(decoded, func(r rune) bool { return r == '/' || r == '\\' }) {
		name, _, _ := strings.Cut(seg, ";")
		if name == "." || name == ".." {
			return true
		}
	}
	return false
}

func FuzzGuard(f *testing.F) {
	seeds := [][3]string{
		{"localhost:20000", "", "/api/v3/0123/services"},
		{"[::1]:20000", "http://localhost:8888", "/api/v3/%2e%2e/x"},
		{"evil.example", "https://evil.example", "/a/.%2E/b"},
		{"LOCALHOST", "null", "/a/..;/b"},
		{"[::1", "", "/a%2F..%2Fb"},
		{"127.0.0.1:", "http://x", `/a\..\b`},
		{"", "", "/%2e"},
		{"[fe80::1%25eth0]:1", "", "/a/%252e%252e/b"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	var guards []http.Handler
	for _, cfg := range []Config{
		{AllowedOrigins: []string{"http://localhost:8888"}},
		{AllowPaths: []string{"^/api/v3/"}, DenyPaths: []string{"/services$"}, AllowedHosts: []string{"*"}},
	} {
		g, err := New(cfg, Options{Listen: "127.0.0.1:20000", Logger: zerolog.Nop()})
		if err != nil {
			f.Fatal(err)
		}
		guards = append(guards, g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Reached", "1")
		})))
	}
	f.Fuzz(func(t *testing.T, host, origin, path string) {
		if strings.ContainsAny(host+origin+path, "\r\n") {
			t.Skip()
		}
		msg := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nOrigin: " + origin + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(msg)))
		if err != nil {
			t.Skip()
		}
		r.RemoteAddr = "127.0.0.1:1234"
		for _, h := range guards {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Header().Get("X-Reached") != "" && isTraversal(escapedPath(r.URL)) {
				t.Fatalf("traversal %q reached the backend", escapedPath(r.URL))
			}
		}
	})
}
