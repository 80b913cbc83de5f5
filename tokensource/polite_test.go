package tokensource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// politeIAM is an IAM-like token endpoint over real TLS: answer(n) decides the n-th exchange
// (from 1) as a status, a Retry-After header ("" for none) and a body.
func politeIAM(t *testing.T, clock *fakeClock, answer func(n int64) (int, string, string)) (*IAM, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
		code, retry, body := answer(n.Add(1))
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	})
	return NewIAM(IAMOptions{URL: srv.URL, Client: srv.Client(), Now: clock.Now, Logger: zerolog.Nop(),
		Key: func() (string, error) { return testKey, nil }}), &n
}

// TestIAMTooManyRequestsHonoursRetryAfter: IAM answers the first two exchanges 429 with
// Retry-After: 3. Over 10 s of the injected clock there are at most 3 attempts, none before
// its Retry-After, clients meanwhile get a *NoTokenError at once, and then a token arrives.
func TestIAMTooManyRequestsHonoursRetryAfter(t *testing.T) {
	clock := newFakeClock()
	src, attempts := politeIAM(t, clock, func(n int64) (int, string, string) {
		if n <= 2 {
			return http.StatusTooManyRequests, "3", `{"errorCode":"BXNIM0436E","errorMessage":"Too many requests"}`
		}
		return http.StatusOK, "", iamAnswer(iamJWT("acc-1", t0.Add(time.Hour).Unix()), 0, 0)
	})
	c := NewCached(src, exactOptions(clock))
	defer c.Close()
	c.Start()
	end := t0.Add(10 * time.Second)
	for n := 1; !c.Status().HasToken; n++ {
		call := clock.waitAfter(t, n)
		st := c.Status()
		if st.HasToken {
			break
		}
		if call.d < 3*time.Second || call.d > 3300*time.Millisecond {
			t.Fatalf("attempt %d: the loop sleeps %v after a 429 with Retry-After: 3, want 3 s plus at most a tenth", n, call.d)
		}
		if _, err := c.Token(ctxTimeout(t)); !errors.As(err, new(*NoTokenError)) || !strings.Contains(err.Error(), "429") {
			t.Fatalf("attempt %d: a client got %v, want a *NoTokenError naming the 429", n, err)
		}
		clock.Advance(call.d)
		if clock.Now().After(end) {
			t.Fatalf("no token after 10 s and %d attempts", attempts.Load())
		}
		clock.fire(call)
		eventually(t, "the next attempt", func() bool { return c.Status().Exchanges == int64(n+1) })
	}
	if got := attempts.Load(); got > 3 {
		t.Errorf("%d attempts in 10 s, want at most 3", got)
	}
	if _, err := c.Token(ctxTimeout(t)); err != nil {
		t.Errorf("after the 429s: %v", err)
	}
}

// TestIAMRejectedKeyIsNotRetried: a 400 BXNIM0415E is one attempt, not a loop: no exchange for
// 5 minutes whatever clients do, readiness shows IAM's code and message, and Reset (a new
// credential) tries again at once.
func TestIAMRejectedKeyIsNotRetried(t *testing.T) {
	clock := newFakeClock()
	var reject atomic.Bool
	reject.Store(true)
	src, attempts := politeIAM(t, clock, func(int64) (int, string, string) {
		if reject.Load() {
			return http.StatusBadRequest, "", `{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found."}`
		}
		return http.StatusOK, "", iamAnswer(iamJWT("acc-1", t0.Add(time.Hour).Unix()), 0, 0)
	})
	c := NewCached(src, exactOptions(clock))
	defer c.Close()
	c.Start()
	call := clock.waitAfter(t, 1)
	if call.d != 5*time.Minute {
		t.Errorf("the loop sleeps %v after a rejected key, want 5m", call.d)
	}
	for range 20 {
		if _, err := c.Token(ctxTimeout(t)); err == nil {
			t.Fatal("a token with a rejected key")
		}
		_ = c.Refresh()
	}
	clock.Advance(4 * time.Minute)
	if _, err := c.Token(ctxTimeout(t)); err == nil || attempts.Load() != 1 {
		t.Fatalf("after 4 minutes: %v, %d attempts; want a failure and 1 attempt", err, attempts.Load())
	}
	_, why := c.Status().Ready(clock.Now())
	if !strings.Contains(why, "IBM Cloud IAM rejected the API key (400 BXNIM0415E: Provided API key could not be found.)") {
		t.Errorf("readiness %q, want IAM's code and message", why)
	}
	reject.Store(false)
	c.Reset()
	eventually(t, "a token after Reset", func() bool { return c.Status().HasToken })
	if attempts.Load() != 2 {
		t.Errorf("%d attempts, want 2", attempts.Load())
	}
}

// TestRetryAfterIsCapped: a Retry-After of an hour pauses 5 minutes.
func TestRetryAfterIsCapped(t *testing.T) {
	c := NewCached(newFakeSource(time.Now, time.Hour), CachedOptions{})
	defer c.Close()
	c.failures = 1
	if got := c.pause(&ExchangeError{Status: 503, RetryAfter: time.Hour}); got != 5*time.Minute {
		t.Errorf("pause after Retry-After: 3600 = %v, want 5m", got)
	}
	for value, want := range map[string]time.Duration{"3": 3 * time.Second, "": 0, "soon": 0, "-1": 0,
		t0.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second, t0.Add(-time.Hour).Format(http.TimeFormat): 0} {
		if got := retryAfterHeader(value, t0); got != want {
			t.Errorf("Retry-After %q = %v, want %v", value, got, want)
		}
	}
}

// TestExchangeRunsOnItsOwnContext: the exchange a request starts carries none of its
// context: a 103 Early Hints of the token endpoint does not reach the request's trace (in the
// proxy, the client's writer), its values are not seen, and its deadline is ExchangeTimeout.
func TestExchangeRunsOnItsOwnContext(t *testing.T) {
	srv := tokenServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		_, _ = fmt.Fprintf(w, `{"access_token":%q,"user_id":"u"}`, makeJWT(map[string]any{"exp": t0.Add(time.Hour).Unix()}))
	})
	type key struct{}
	var hints atomic.Int64
	ctx := httptrace.WithClientTrace(context.WithValue(ctxTimeout(t), key{}, "client's"), &httptrace.ClientTrace{
		Got1xxResponse: func(int, textproto.MIMEHeader) error { hints.Add(1); return nil },
	})
	var seen atomic.Value
	ex := newTestExchange(srv, zerolog.Nop())
	src := sourceFunc(func(ctx context.Context) (Token, error) {
		deadline, _ := ctx.Deadline()
		seen.Store([]any{ctx.Value(key{}), time.Until(deadline)})
		return ex.Token(ctx)
	})
	c := NewCached(src, CachedOptions{ExchangeTimeout: time.Hour, Clock: newFakeClock(), Logger: zerolog.Nop()})
	defer c.Close()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := hints.Load(); n != 0 {
		t.Errorf("the request's trace saw %d informational answers of the token endpoint, want 0", n)
	}
	got := seen.Load().([]any)
	if got[0] != nil || got[1].(time.Duration) < 50*time.Minute {
		t.Errorf("the exchange saw the value %v and a deadline in %v; want none and ExchangeTimeout (1h)", got[0], got[1])
	}
}

// TestOldTokenKeptWhenNewKeyRejected: Reset with a new key that the endpoint refuses keeps
// serving the still-valid token of the old key until its margin, and says so loudly in
// readiness and the log; then clients get the rejection.
func TestOldTokenKeptWhenNewKeyRejected(t *testing.T) {
	clock := newFakeClock()
	src := newFakeSource(clock.Now, time.Hour)
	logs := &testkit.SyncBuffer{}
	opts := exactOptions(clock)
	opts.Logger = zerolog.New(logs)
	c := NewCached(src, opts)
	defer c.Close()
	old, err := c.Token(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	src.SetErr(&ExchangeError{Status: 400, Endpoint: "IBM Cloud IAM", Code: "BXNIM0415E", Message: "Provided API key could not be found."})
	c.Reset()
	eventually(t, "the new key's exchange", func() bool { return c.Status().Exchanges == 2 })
	if tok, err := c.Token(ctxTimeout(t)); err != nil || tok.AccessToken != old.AccessToken {
		t.Fatalf("after the new key was rejected: %v, %v; want the old key's token", tok, err)
	}
	st := c.Status()
	ready, why := st.Ready(clock.Now())
	if !st.OldToken || !ready || !strings.Contains(why, "previous credential") || !strings.Contains(why, "BXNIM0415E") {
		t.Errorf("Status.OldToken = %v, Ready = %v, %q; want ready with a warning naming the rejection", st.OldToken, ready, why)
	}
	if !strings.Contains(logs.String(), `"level":"error"`) || !strings.Contains(logs.String(), "previous one") {
		t.Errorf("no loud log line:\n%s", logs.String())
	}
	clock.Set(old.Expiry.Add(-time.Second)) // within the margin: the old token is done
	if _, err := c.Token(ctxTimeout(t)); !errors.As(err, new(*ExchangeError)) {
		t.Errorf("past the old token's margin: %v, want the rejection", err)
	}
	if ready, _ := c.Status().Ready(clock.Now()); ready {
		t.Error("ready past the old token's margin")
	}
}

// TestReplayOffStillUsesGetBody: with MaxReplayBytes < 0 no body is kept, but a request with
// GetBody is still replayed through it after a 401, as the option's doc says.
func TestReplayOffStillUsesGetBody(t *testing.T) {
	clock := newFakeClock()
	c := NewCached(newFakeSource(clock.Now, time.Hour), exactOptions(clock))
	defer c.Close()
	up := newUpstream(t, rejectTok1(http.StatusUnauthorized))
	tr := &Transport{Cache: c, Base: up.srv.Client().Transport, MaxReplayBytes: -1}
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, up.srv.URL, bytes.NewReader([]byte("payload")))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := up.requests(); resp.StatusCode != http.StatusOK || len(got) != 2 {
		t.Errorf("status %d after %d requests, want 200 after a replay", resp.StatusCode, len(got))
	}
}
