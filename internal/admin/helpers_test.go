package admin

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// t0 is the pinned clock of every test.
var t0 = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

// fakeUserID is an account id as the API returns it: 32 hex digits.
const fakeUserID = "0123456789abcdef0123456789abcdef"

// baseOptions are Options with a healthy token and the pinned clock.
func baseOptions() Options {
	return Options{
		Logger:   zerolog.Nop(),
		Version:  "v1.2.3",
		Upstream: "https://dbaas900.hyperp-dbaas.cloud.ibm.com:20000",
		Token: func() tokensource.Status {
			return tokensource.Status{HasToken: true, UserID: fakeUserID, Expiry: t0.Add(30 * time.Minute),
				Fingerprint: "a1b2c3d4e5f6", IssuedAt: t0.Add(-10 * time.Minute), LastRefresh: t0.Add(-10 * time.Minute),
				Exchanges: 3, Failures: 1}
		},
		Ready: func(string) (bool, string) { return true, "" },
		Now:   func() time.Time { return t0 },
	}
}

// serve runs the admin handler on a loopback listener for the test's lifetime.
func serve(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(opts))
	t.Cleanup(srv.Close)
	return srv
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request to srv, with host as the Host header when not "", and headers set.
func do(t *testing.T, srv *httptest.Server, method, path, host string, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := srv.Client()
	client.Timeout = 10 * time.Second
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// parseExposition reads Prometheus text exposition into series ("name{labels}") → value.
func parseExposition(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad exposition line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad value in %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
