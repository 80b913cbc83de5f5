package tokensource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// secretRig is a token endpoint that issues JWTs (or, once reject is set, answers 401 quoting
// the key), a Cached Exchange logging at debug level, and a Transport to an upstream that
// rejects the first token issued.
type secretRig struct {
	c      *Cached
	tr     *Transport
	url    string
	logs   *testkit.SyncBuffer
	reject atomic.Bool
	mu     sync.Mutex
	issued []string
}

func newSecretRig(t *testing.T) *secretRig {
	r := &secretRig{logs: &testkit.SyncBuffer{}}
	srv := tokenServer(t, func(w http.ResponseWriter, req *http.Request) {
		if r.reject.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"code":401,"message":"API key %s was revoked"}`, req.Header.Get("api_key"))
			return
		}
		r.mu.Lock()
		tok := makeJWT(map[string]any{"exp": time.Now().Add(time.Hour).Unix(), "n": len(r.issued), "sub": "secret-subject"})
		r.issued = append(r.issued, tok)
		r.mu.Unlock()
		fmt.Fprintf(w, `{"access_token":%q,"user_id":"acc-1"}`, tok)
	})
	log := zerolog.New(r.logs).Level(zerolog.DebugLevel)
	opts := testExchangeOptions(srv, log)
	opts.Now = nil
	r.c = NewCached(NewExchange(opts), CachedOptions{Logger: log})
	t.Cleanup(r.c.Close)
	up := newUpstream(t, func(tok string) int {
		r.mu.Lock()
		defer r.mu.Unlock()
		if tok == r.issued[0] {
			return http.StatusUnauthorized
		}
		return http.StatusOK
	})
	r.url = up.srv.URL
	r.tr = &Transport{Cache: r.c, Base: up.srv.Client().Transport}
	return r
}

// secrets returns the key and every token issued so far.
func (r *secretRig) secrets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{testKey, "secret-subject"}, r.issued...)
}

// TestNoSecretInLogsOrErrors drives every piece at debug level through success, a replay and a
// rejected key, and then looks for the key and every token issued in all that was logged and
// every error and status text produced.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	r := newSecretRig(t)
	tok, err := r.c.Token(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok)}
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, r.url, nil)
	resp, err := r.tr.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %v %v", resp, err)
	}
	resp.Body.Close()

	r.reject.Store(true)
	if cur, err := r.c.Token(ctxTimeout(t)); err != nil || !r.c.Invalidate(cur) {
		t.Fatalf("invalidating the current token: %v", err) // so that Reset keeps no old token
	}
	r.c.Reset()
	// The failure is stored before it is logged: wait for the log line too.
	eventually(t, "the rejected exchange", func() bool {
		return r.c.Status().LastError != nil && strings.Contains(r.logs.String(), "backing off")
	})
	_, err = r.c.Token(ctxTimeout(t))
	var xe *ExchangeError
	if !errors.As(err, &xe) || !xe.Rejected() {
		t.Fatalf("after the key was revoked: %v", err)
	}
	req, _ = http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, r.url, nil)
	_, rtErr := r.tr.RoundTrip(req)
	_, why := r.c.Status().Ready(time.Now())
	texts = append(texts, err.Error(), rtErr.Error(), xe.Body, why, Describe(err), fmt.Sprintf("%+v", r.c.Status()), r.logs.String())

	all := strings.Join(texts, "\n")
	for _, s := range r.secrets() {
		if strings.Contains(all, s) {
			t.Errorf("a secret (%d bytes) shows up in logs or errors", len(s))
		}
	}
	for _, want := range []string{"access token refreshed", "invalidated", "backing off", `"level":"debug"`, "[redacted]"} {
		if !strings.Contains(all, want) {
			t.Errorf("output lacks %q; the test may not have driven every path", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", strings.ReplaceAll(all, testKey, "<KEY>"))
	}
}

func TestTokenPrintsNoSecret(t *testing.T) {
	tok := Token{AccessToken: "very-secret-token", UserID: "acc-1", Expiry: t0}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		t.Run(format, func(t *testing.T) {
			out := fmt.Sprintf(format, tok)
			if strings.Contains(out, tok.AccessToken) || !strings.Contains(out, tok.Fingerprint()) {
				t.Errorf("%s printed %s", format, out)
			}
		})
	}
}

func BenchmarkCachedToken(b *testing.B) {
	c := NewCached(newFakeSource(time.Now, time.Hour), CachedOptions{Logger: zerolog.Nop()})
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Token(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRedactVariants: an error body that echoes the key URL-escaped, or only part of it, keeps
// no 12 bytes of it in a row.
func TestRedactVariants(t *testing.T) {
	const key = "AbCdEfGhIjKl/MnOpQrSt+UvWxYz0123456789-_xyz"
	for _, body := range []string{
		"apikey=" + url.QueryEscape(key) + " is revoked",
		`{"errorMessage":"key ` + key[5:30] + `... unknown"}`,
		"prefix " + key[len(key)-14:],
	} {
		got := redact(body, 1<<10, key)
		for i := 0; i+12 <= len(key); i++ {
			if strings.Contains(got, key[i:i+12]) {
				t.Errorf("redact(%q) = %q keeps %q", body, got, key[i:i+12])
				break
			}
		}
	}
}
