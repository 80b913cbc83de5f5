package emulator

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestEcho(t *testing.T) {
	f := newFixture(t, Options{})
	big := strings.Repeat("0123456789abcdef", 1<<20) // 16 MiB
	cases := []struct {
		name, method, path, body string
		headers                  []string
		wantStatus               int
	}{
		{"get", "GET", "/_echo", "", []string{"X-Custom: one"}, 200},
		{"post body", "POST", "/_echo/deeper/path?x=1&y=%2F", `{"a": 1}`, []string{"Content-Type: application/json"}, 200},
		{"encoded path", "PUT", "/_echo/a%2Fb/%7Ec", "body", nil, 200},
		{"large body", "POST", "/_echo/upload", big, nil, 200},
		{"status", "DELETE", "/_echo?status=418", "", nil, 418},
		{"sleep", "GET", "/_echo?sleep=20ms", "", nil, 200},
		{"no content", "POST", "/_echo?status=204", "x", nil, 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, f.c, tc.method, f.base+tc.path, tc.body, append([]string{xAuth(f.tok)}, tc.headers...)...)
			if a.status != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", a.status, tc.wantStatus, a.body)
			}
			if tc.wantStatus == http.StatusNoContent {
				if len(a.body) != 0 {
					t.Errorf("204 with a body %q", a.body)
				}
				return
			}
			var got echoReply
			if err := json.Unmarshal(a.body, &got); err != nil {
				t.Fatalf("decode %s: %v", a.body, err)
			}
			path, query, _ := strings.Cut("/api/v3/"+f.s.UserID()+tc.path, "?")
			sum := sha256.Sum256([]byte(tc.body))
			if got.Method != tc.method || got.Path != path || got.RawQuery != query || got.Proto != "HTTP/2.0" ||
				got.Host != f.s.Addr() || got.BodyBytes != int64(len(tc.body)) || got.BodySHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("echo %+v, want %s %s ? %q with %d bytes", got, tc.method, path, query, len(tc.body))
			}
			if got.Header.Get("X-Auth-Token") != f.tok {
				t.Error("echo does not report x-auth-token")
			}
			for _, h := range tc.headers {
				k, v, _ := strings.Cut(h, ": ")
				if got.Header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, got.Header.Get(k), v)
				}
			}
		})
	}
}

func TestEchoBadQuery(t *testing.T) {
	f := newFixture(t, Options{})
	for _, q := range []string{"sleep=forever", "status=99", "status=600", "chunks=0", "chunks=x", "delay=-1s"} {
		t.Run(q, func(t *testing.T) {
			wantError(t, do(t, f.c, "GET", f.base+"/_echo?"+q, "", xAuth(f.tok)), 400)
		})
	}
}

func TestEchoNeedsAuth(t *testing.T) {
	f := newFixture(t, Options{})
	wantError(t, do(t, f.c, "POST", f.base+"/_echo", "data"), 401)
	if n := f.s.Counters().Unauthorized; n != 1 {
		t.Errorf("Unauthorized = %d, want 1", n)
	}
}

// TestEchoChunksFlush reads the first line of a stream whose second line comes much later: it
// only arrives in time if the emulator flushes each chunk.
func TestEchoChunksFlush(t *testing.T) {
	for _, h1 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2", true: "http1"}[h1], func(t *testing.T) {
			s := start(t, Options{})
			c := newClient(t, s, clientOpts{http1Only: h1})
			tok := tokenFor(t, s, c, s.APIKey())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/v3/"+s.UserID()+"/_echo?chunks=2&delay=1h", nil)
			req.Header.Set("x-auth-token", tok)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			if err != nil || line != "{\"chunk\":0,\"chunks\":2}\n" {
				t.Fatalf("first line %q, %v", line, err)
			}
			// Closing the server must end the handler that is waiting an hour.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEchoChunksAll(t *testing.T) {
	f := newFixture(t, Options{})
	a := do(t, f.c, "GET", f.base+"/_echo?chunks=5&delay=1ms", "", xAuth(f.tok))
	if a.status != 200 || strings.Count(string(a.body), "\n") != 5 || a.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d, body %q", a.status, a.body)
	}
}

func TestEchoSleepEndsWithClient(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{})
	tok := tokenFor(t, s, c, s.APIKey())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/v3/"+s.UserID()+"/_echo?sleep=1h", nil)
	req.Header.Set("x-auth-token", tok)
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a request sleeping an hour answered")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want deadline exceeded", err)
	}
}
