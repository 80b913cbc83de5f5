package proxy_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

func TestWrongCAIsA502ThatSaysSo(t *testing.T) {
	other, err := emulator.Start(emulator.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	otherCA := other.CAPEM()
	other.Close()
	h := newHarness(t, setup{caPEM: otherCA, noStart: true})
	code, _, b := h.do(http.MethodGet, "/api/v3/me/services", nil, nil)
	if code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", code, b)
	}
	c, msg := jsonError(t, b)
	mustContain(t, "message", msg, "not signed by the CA in upstream.ca_file", "testdata/ca.pem", "127.0.0.1")
	if c != 502 {
		t.Errorf("code = %d, want 502", c)
	}
	if n := h.em.Counters(); n.Requests != 0 || n.TokenRequests != 0 {
		t.Errorf("the upstream handled %d requests and %d token requests over an untrusted connection", n.Requests, n.TokenRequests)
	}
}

// TestTokenEndpointAnswers covers the statuses IBM does not document: whatever the emulator
// answers for a wrong key, the client gets a 503 that names the cause.
func TestRejectedKeyIsA503(t *testing.T) {
	for _, status := range []int{400, 401, 403} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			h := newHarness(t, setup{em: emulator.Options{WrongKeyStatus: status}, noStart: true})
			h.em.RemoveAPIKey(h.em.APIKey())
			code, hdr, b := h.do(http.MethodGet, "/api/v3/me/services", nil, nil)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503: %s", code, b)
			}
			_, msg := jsonError(t, b)
			mustContain(t, "message", msg, fmt.Sprintf("rejected the API key (%d)", status), "auth.api_key_file")
			if hdr.Get("Retry-After") == "" {
				t.Error("no Retry-After on a 503")
			}
		})
	}
}

// TestRevocationIsInvisible: tokens revoked while requests run are refreshed and the requests
// replayed once, whatever status the upstream uses for a revoked token.
func TestRevocationIsInvisible(t *testing.T) {
	tests := []struct {
		name      string
		badToken  int
		refreshOn []int
	}{
		{"401", 401, nil},
		{"403 with refresh_on [401, 403]", 403, []int{401, 403}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{em: emulator.Options{BadTokenStatus: tt.badToken}, refreshOn: tt.refreshOn})
			uid := h.em.UserID()
			h.get("/api/v3/"+uid+"/services", http.StatusOK)
			h.em.RevokeAll()
			h.get("/api/v3/"+uid+"/services", http.StatusOK)
			h.em.RevokeAll()
			body := `{"name":"db1","catalog":"hyperp-dbaas-postgresql","plan":"free"}`
			code, _, b := h.do(http.MethodPost, "/api/v3/"+uid+"/_echo", strings.NewReader(body),
				map[string]string{"Content-Type": "application/json", "X-Request-Id": "post-1"})
			if code != http.StatusOK {
				t.Fatalf("POST after revocation = %d: %s", code, b)
			}
			sum := sha256.Sum256([]byte(body))
			if e := decodeEcho(t, b); e.BodySHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("replayed POST body arrived as %d bytes %s, want the original", e.BodyBytes, e.BodySHA256)
			}
			if n := h.em.Deliveries("post-1"); n != 1 {
				t.Errorf("the POST was acted on %d times, want 1", n)
			}
			if got := h.em.Counters().TokenExchanges; got != 3 {
				t.Errorf("token exchanges = %d, want 3 (one per revocation)", got)
			}
		})
	}
}

// TestShortTokensNeverExpireOnClients: across five token lifetimes, rounds of 20 concurrent
// clients never see an error and the upstream never sees an expired token, although its clock
// is a second ahead of the proxy's (as if each request reached it a second after the proxy
// attached the token): a token handed out inside its margin would be rejected. A manual clock
// moves a second between rounds; before a move would take the token into its margin, the test
// holds the clock and keeps the rounds going until the refresh has landed: the token is
// refreshed ahead, in the background, while clients go on with the old one.
func TestShortTokensNeverExpireOnClients(t *testing.T) {
	const (
		life    = 20 * time.Second // the margin is a tenth of the lifetime the proxy sees: 2.1 s
		transit = time.Second      // within the margin; whole seconds, as the JWT's exp is
		step    = time.Second      // no more than transit: a round falls in the last transit before expiry
		clients = 20
	)
	clk := newManualClock()
	h := newHarness(t, setup{em: emulator.Options{TokenLifetime: life, Now: clk.Ahead(transit)},
		cached: tokensource.CachedOptions{Clock: clk}}) // refresh at 75% to 85%
	path := h.front.URL + "/api/v3/" + h.em.UserID() + "/services"
	var total, bad atomic.Int64
	round := func() {
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				resp, err := h.client.Get(path)
				total.Add(1)
				if err != nil {
					bad.Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad.Add(1)
				}
			})
		}
		wg.Wait()
	}
	for end := clk.Now().Add(5 * life); clk.Now().Before(end); clk.Advance(step) {
		round()
		next := clk.Now().Add(step)
		waitFor(t, "a new token before the old one's margin", func() bool {
			if ok, _ := h.tokens.Status().Ready(next); ok {
				return true
			}
			round()
			return false
		})
	}
	c := h.em.Counters()
	t.Logf("%d requests, %d token exchanges, %d upstream 401s", total.Load(), c.TokenExchanges, c.Unauthorized)
	if bad.Load() != 0 {
		t.Errorf("%d of %d requests failed", bad.Load(), total.Load())
	}
	if c.Unauthorized != 0 {
		t.Errorf("the upstream answered 401 %d times: an expired token was sent", c.Unauthorized)
	}
	if c.TokenExchanges < 5 || c.TokenExchanges > 10 {
		t.Errorf("%d token exchanges in five lifetimes of a token; want one per lifetime and no storm (5 to 10)", c.TokenExchanges)
	}
}

// TestUpstreamTimeoutIsA504: an upstream that does not answer within upstream.timeout (1 s;
// the token exchange and the first call must fit in it on a loaded machine) is a 504. The
// upstream holds its answer back for 30 s, so that a missing timeout fails (with the answer)
// instead of hanging.
func TestUpstreamTimeoutIsA504(t *testing.T) {
	h := newHarness(t, setup{timeout: time.Second})
	uid := h.em.UserID()
	h.get("/api/v3/"+uid+"/services", http.StatusOK)
	h.em.SetFault("/api/v3/"+uid+"/clusters", emulator.Fault{Latency: 30 * time.Second})
	code, _, b := h.do(http.MethodGet, "/api/v3/"+uid+"/clusters/x", nil, nil)
	if code != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504: %s", code, b)
	}
	_, msg := jsonError(t, b)
	mustContain(t, "message", msg, "did not answer within", "upstream.timeout")
}

func TestUnreachableUpstreamIsA502(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	em, err := emulator.Start(emulator.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	base := pinnedTransport(t, em.CAPEM(), time.Second)
	tokens := tokensource.NewCached(tokensource.NewExchange(tokensource.ExchangeOptions{
		URL: "https://" + addr + "/api/v1/auth/token", Client: &http.Client{Transport: base},
		Key: func() (string, error) { return "k", nil }, Logger: zerolog.Nop(),
	}), tokensource.CachedOptions{Logger: zerolog.Nop()})
	defer tokens.Close()
	up, _ := url.Parse("https://" + addr)
	ph, err := proxy.New(proxy.Options{Upstream: up,
		Transport: &tokensource.Transport{Cache: tokens, Base: base}, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ph}
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(pl)
	defer srv.Close()
	resp, err := http.Get("http://" + pl.Addr().String() + "/api/v3/me/services")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", resp.StatusCode, b)
	}
	_, msg := jsonError(t, b)
	mustContain(t, "message", msg, "refused the connection", addr)
}

// TestLargeDownloadStreams: a 256 MiB log passes with identical bytes while the heap stays
// small: the proxy streams, it never buffers.
func TestLargeDownloadStreams(t *testing.T) {
	const size = 256 << 20
	h := newHarness(t, setup{})
	want := sha256.New()
	if _, err := io.Copy(want, emulator.LogContent("postgresql.log", size)); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample the heap while the download runs
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	resp, err := h.client.Get(fmt.Sprintf("%s/api/v3/me/nodes/node-1/logs/postgresql.log?size=%d", h.front.URL, size))
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	close(stop)
	wg.Wait()
	if err != nil || n != size {
		t.Fatalf("read %d bytes (%v), want %d", n, err, size)
	}
	if hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(want.Sum(nil)) {
		t.Error("the downloaded bytes differ from the log's")
	}
	t.Logf("peak heap in use while streaming %d MiB: %.1f MiB", size>>20, float64(peak.Load())/(1<<20))
	if peak.Load() > 64<<20 {
		t.Errorf("peak heap %d MiB while streaming: the body is being buffered", peak.Load()>>20)
	}
}

func TestLargeUploadStreamsAndIsNotReplayed(t *testing.T) {
	const size = 32 << 20
	h := newHarness(t, setup{})
	uid := h.em.UserID()
	h.get("/api/v3/"+uid+"/services", http.StatusOK)
	h.em.RevokeAll() // the upload meets a 401: too big to replay, so the client gets the 401
	body := io.LimitReader(emulator.LogContent("upload", size), size)
	req, _ := http.NewRequest(http.MethodPost, h.front.URL+"/api/v3/"+uid+"/_echo", body)
	req.Header.Set("X-Request-Id", "upload-1")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want the upstream's 401 passed through: %s", resp.StatusCode, b)
	}
	if n := h.em.Deliveries("upload-1"); n != 0 {
		t.Errorf("deliveries = %d, want 0", n)
	}
	// The next upload, with the refreshed token, streams through whole.
	want := sha256.New()
	_, _ = io.Copy(want, emulator.LogContent("upload", size))
	req, _ = http.NewRequest(http.MethodPost, h.front.URL+"/api/v3/"+uid+"/_echo", emulator.LogContent("upload", size))
	resp, err = h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	e := decodeEcho(t, b)
	if e.BodyBytes != size || e.BodySHA256 != hex.EncodeToString(want.Sum(nil)) {
		t.Errorf("upstream got %d bytes %s, want %d bytes, same hash", e.BodyBytes, e.BodySHA256, size)
	}
}

// TestStreamingResponsesAreFlushed: the first chunk of a chunked response reaches the client
// while the upstream still holds back the second (for an hour): the proxy flushes what it
// gets instead of buffering the stream. The client's 10 s deadline only guards against a hang.
func TestStreamingResponsesAreFlushed(t *testing.T) {
	h := newHarness(t, setup{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.front.URL+"/api/v3/me/_echo?chunks=2&delay=1h", nil)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%v: no answer while the upstream streams: it was buffered", err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the first chunk: %v after %q: the stream was buffered", err, line)
	}
	if !strings.Contains(line, `"chunk":0`) {
		t.Errorf("first line %q, want chunk 0", line)
	}
}

// TestNoSecretInLogs runs successes, a revocation and a rejected key at debug level and then
// looks for the API key and every token the upstream ever saw in the log.
func TestNoSecretInLogs(t *testing.T) {
	h := newHarness(t, setup{level: zerolog.TraceLevel, noStart: false})
	uid := h.em.UserID()
	h.get("/api/v3/"+uid+"/services?debug=1", http.StatusOK)
	h.em.RevokeAll()
	h.get("/api/v3/me/services", http.StatusOK)
	h.get("/api/v1/auth/token", http.StatusOK)
	h.do(http.MethodGet, "/api/v3/"+uid+"/_echo", nil, map[string]string{"X-Auth-Token": "client-secret-token", "api_key": "client-secret-key"})
	key := h.em.APIKey()
	h.em.RemoveAPIKey(key)
	h.em.RevokeAll()
	h.do(http.MethodGet, "/api/v3/me/services", nil, nil)
	secrets := map[string]string{"api key": key, "client token": "client-secret-token", "client key": "client-secret-key"}
	for i, a := range h.em.Requests() {
		if tok := first(a.Header, "X-Auth-Token"); tok != "" {
			secrets[fmt.Sprintf("token %d", i)] = tok
		}
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"level":"debug"`) && !strings.Contains(logs, `"level":"info"`) {
		t.Fatalf("no log lines were written: %q", logs)
	}
	for what, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the %s appears in the logs", what)
		}
	}
}
