package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// TestRevocationStorm: while every token is revoked every 500 ms, replayable requests never
// show a 401, and no POST reaches the upstream twice.
func TestRevocationStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 requests")
	}
	// A revocation every 500 ms is more than auth.min_refresh_interval allows: unpaced here.
	h := newFaultHarness(t, faultSetup{cached: tokensource.CachedOptions{MinRefreshInterval: -1}})
	uid := h.em.UserID()
	const total, clients = 10000, 64
	var warm sync.WaitGroup // open the connections first: a cold start is slower than a revocation period
	for range clients {
		warm.Go(func() { h.stormRequest(uid, 1) })
	}
	warm.Wait()
	rv := &revoker{em: h.em, tokens: h.tokens, active: []int{0}, seen: []int64{0}}
	rv.revoke(nil) // the first requests meet a revoked token
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		rv.run(done)
	}()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := next.Add(1); i <= total; i = next.Add(1) {
				epoch := rv.begin()
				code := h.stormRequest(uid, i)
				rv.end(epoch)
				if code != http.StatusOK && failed.Add(1) <= 3 {
					t.Errorf("request %d: status %d", i, code)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	<-stopped
	twice := 0
	for i := int64(2); i <= total; i += 2 {
		if n := h.em.Deliveries(fmt.Sprint("storm-", i)); n != 1 {
			twice++
		}
	}
	c := h.em.Counters()
	t.Logf("%d revocations, %d upstream 401s, %d token exchanges", len(rv.active)-1, c.Unauthorized, c.TokenExchanges)
	if failed.Load() != 0 || twice != 0 {
		t.Errorf("%d requests failed; %d POSTs were not delivered exactly once", failed.Load(), twice)
	}
	if c.Unauthorized == 0 {
		t.Error("no request met a revoked token: the storm did not happen")
	}
}

// revoker revokes every token every 500 ms, but never while a request that may hold a token
// from before the previous revocation still runs: the proxy replays a request once, so a
// request that lives through two revocations (on a loaded machine) may fail by design.
type revoker struct {
	em     *emulator.Server
	tokens *tokensource.Cached
	mu     sync.Mutex
	active []int   // requests running, by epoch: the revocations before their token was had
	seen   []int64 // the proxy's exchanges at each revocation
}

// begin counts a request in and returns its epoch, for end. A request that starts before the
// proxy has a token from after the last revocation counts with the epoch before.
func (r *revoker) begin() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := len(r.active) - 1
	if e > 0 && r.tokens.Status().Exchanges <= r.seen[e] {
		e--
	}
	r.active[e]++
	return e
}

func (r *revoker) end(epoch int) {
	r.mu.Lock()
	r.active[epoch]--
	r.mu.Unlock()
}

// run revokes every 500 ms until done closes.
func (r *revoker) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-time.After(500 * time.Millisecond):
			r.revoke(done)
		}
	}
}

// revoke waits until no request from before the last revocation runs, then revokes.
func (r *revoker) revoke(done <-chan struct{}) {
	for {
		r.mu.Lock()
		older := 0
		for _, n := range r.active[:len(r.active)-1] {
			older += n
		}
		if older == 0 {
			r.em.RevokeAll()
			r.active = append(r.active, 0)
			r.seen = append(r.seen, r.tokens.Status().Exchanges)
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// stormRequest sends request i of the storm: a GET when i is odd, else a small POST with
// X-Request-Id storm-i. It returns the status, or 0 on a transport error.
func (h *faultHarness) stormRequest(uid string, i int64) int {
	req, _ := http.NewRequest(http.MethodGet, h.front.URL+"/api/v3/"+uid+"/services", nil)
	if i%2 == 0 {
		req, _ = http.NewRequest(http.MethodPost, h.front.URL+"/api/v3/"+uid+"/_echo",
			strings.NewReader(fmt.Sprintf(`{"n": %d}`, i)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", fmt.Sprint("storm-", i))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestUpstreamResetMidResponse: when the upstream breaks off a response, the client's read
// fails; it never gets a truncated body that looks complete.
func TestUpstreamResetMidResponse(t *testing.T) {
	const size, sent = 8 << 20, 256 << 10
	tests := []struct {
		name    string
		h2      bool
		chunked bool // a streamed answer without Content-Length, cut by the upstream going away
	}{
		{"content-length over an HTTP/1.1 upstream", false, false},
		{"content-length over an HTTP/2 upstream", true, false},
		{"chunked", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFaultHarness(t, faultSetup{h2: tt.h2})
			uid := h.em.UserID()
			target := fmt.Sprintf("/api/v3/%s/nodes/n1/logs/postgresql.log?size=%d", uid, size)
			if tt.chunked {
				target = "/api/v3/" + uid + "/_echo?chunks=1000&delay=5ms"
			} else {
				h.em.SetFault("/api/v3/"+uid+"/nodes/n1/logs/", emulator.Fault{ResetAfter: sent})
			}
			resp, err := h.client.Get(h.front.URL + target)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := bufio.NewReader(resp.Body)
			if tt.chunked {
				if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 {
					t.Fatalf("length %d, transfer encoding %v: want chunked", resp.ContentLength, resp.TransferEncoding)
				}
				if _, err := body.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
				h.em.Close() // the upstream goes away mid-stream
			} else if resp.StatusCode != http.StatusOK || resp.ContentLength != size {
				t.Fatalf("status %d, length %d; want 200 announcing %d bytes", resp.StatusCode, resp.ContentLength, size)
			}
			got, err := io.ReadAll(body)
			if err == nil {
				t.Fatalf("read %d bytes and a clean end: the broken response looks complete", len(got))
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("read error %v, want unexpected EOF or connection reset", err)
			}
			if !tt.chunked {
				want, _ := io.ReadAll(io.LimitReader(emulator.LogContent("postgresql.log", size), int64(len(got))))
				if len(got) >= size || !bytes.Equal(got, want) {
					t.Errorf("got %d bytes, want a prefix of the log shorter than %d", len(got), size)
				}
			}
		})
	}
}

// TestClientDisconnectCancelsUpstream: a client that leaves a 1 GiB download ends the
// upstream request, and every goroutine the download started.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	h := newFaultHarness(t, faultSetup{})
	uid := h.em.UserID()
	h.get("/api/v3/"+uid+"/services", http.StatusOK)
	h.closeIdle()
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("%s/api/v3/%s/nodes/n1/logs/postgresql.log?size=%d", h.front.URL, uid, 1<<30), nil)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 4<<20); err != nil {
		t.Fatal(err)
	}
	if n := h.watch.open.Load(); n != 1 {
		t.Fatalf("%d upstream responses open mid-download, want 1", n)
	}
	cancel()
	resp.Body.Close()
	waitFor(t, "the upstream response to close", func() bool { return h.watch.open.Load() == 0 })
	h.closeIdle()
	deadline := time.Now().Add(10 * time.Second)
	for err := goleak.Find(before); err != nil; err = goleak.Find(before) {
		if time.Now().After(deadline) {
			t.Fatalf("the download left goroutines behind (the emulator still sending?): %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSlowClientsDoNotSlowOthers: four clients reading logs at 1 KiB/s hold their streams
// open while 50 other requests all succeed.
func TestSlowClientsDoNotSlowOthers(t *testing.T) {
	const slow, fast, size = 4, 50, 64 << 20
	h := newFaultHarness(t, faultSetup{})
	uid := h.em.UserID()
	h.get("/api/v3/"+uid+"/services", http.StatusOK)
	stop := make(chan struct{})
	var started, wg sync.WaitGroup
	var read [slow]int64
	for i := range slow {
		started.Add(1)
		wg.Go(func() {
			url := fmt.Sprintf("%s/api/v3/%s/nodes/n%d/logs/postgresql.log?size=%d", h.front.URL, uid, i, size)
			var err error
			if read[i], err = h.readSlowly(url, started.Done, stop); err != nil {
				t.Errorf("slow client %d: %v", i, err)
			}
		})
	}
	started.Wait()
	var ok atomic.Int64
	var fastWG sync.WaitGroup
	for range fast {
		fastWG.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.front.URL+"/api/v3/"+uid+"/services", nil)
			if resp, err := h.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				}
			}
		})
	}
	fastWG.Wait()
	streaming := h.watch.open.Load() // the slow downloads, still open upstream
	close(stop)
	wg.Wait()
	if streaming != slow {
		t.Errorf("%d upstream streams open after the fast requests, want the %d slow ones", streaming, slow)
	}
	if ok.Load() != fast {
		t.Errorf("%d of %d requests beside the slow clients succeeded", ok.Load(), fast)
	}
	for i, n := range read {
		if n >= size {
			t.Errorf("slow client %d read the whole log: it was not slow", i)
		}
	}
}

// readSlowly downloads url, reading 1 KiB a second until stop closes; started is called
// once the first KiB is in. It returns how much it read.
func (h *faultHarness) readSlowly(url string, started func(), stop <-chan struct{}) (int64, error) {
	started = sync.OnceFunc(started)
	defer started()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	buf := make([]byte, 1<<10)
	var n int64
	for {
		k, err := io.ReadFull(resp.Body, buf)
		if n += int64(k); err != nil {
			return n, err
		}
		started()
		select {
		case <-stop:
			return n, nil
		case <-tick.C:
		}
	}
}
