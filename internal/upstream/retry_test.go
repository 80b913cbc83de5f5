package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// deliveries counts, per X-Request-Id, the requests a handler ran, and checks each body.
type deliveries struct {
	mu    sync.Mutex
	count map[string]int
	bad   []string
}

func newDeliveries() *deliveries { return &deliveries{count: map[string]int{}} }

func (d *deliveries) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		id := r.Header.Get("X-Request-Id")
		d.mu.Lock()
		d.count[id]++
		if r.Method == http.MethodPost && (err != nil || string(body) != "body of "+id) {
			d.bad = append(d.bad, fmt.Sprintf("%s: body %q, %v", id, body, err))
		}
		d.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})
}

func (d *deliveries) of(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count[id]
}

// onlyReader hides bytes.Reader's type, so that http.NewRequest sets no GetBody: a body that
// cannot be replayed, as a proxied one.
type onlyReader struct{ io.Reader }

// send sends method with a body (POST) that cannot be replayed unless replayable, and
// returns the response's error or non-200 status.
func send(ctx context.Context, tr http.RoundTripper, method, url, id string, replayable bool) error {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("body of " + id)
		if !replayable {
			body = onlyReader{body}
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-Request-Id", id)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// TestRetryWhileDown (fault a): the upstream is stopped and restarted on the same address
// under a load of GETs and POSTs; requests sent while it was down all succeed once it is back,
// and every POST runs exactly once.
func TestRetryWhileDown(t *testing.T) {
	d := newDeliveries()
	s := newServer(t, newPKI(t), d.handler(), false, 0)
	tr := newTransport(t, s.p, Options{})
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
		ids    []string
		n      atomic.Int64
	)
	load := func(phase string, count int) {
		for i := range count {
			wg.Add(1)
			go func() {
				defer wg.Done()
				method := []string{http.MethodGet, http.MethodPost}[i%2]
				id := fmt.Sprintf("%s-%d-%d", phase, i, n.Add(1))
				err := send(context.Background(), tr, method, s.url(), id, false)
				mu.Lock()
				defer mu.Unlock()
				ids = append(ids, id)
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s %s: %v", method, id, err))
				}
			}()
		}
	}
	load("before", 50)
	wg.Wait()
	s.stop()
	// Down: a first request is refused at the dial; the requests sent then are all refused
	// until the restart.
	var refused atomic.Int64
	down := func(i int) {
		defer wg.Done()
		method := []string{http.MethodGet, http.MethodPost}[i%2]
		id := fmt.Sprintf("down-%d", i)
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			ConnectDone: func(_, _ string, err error) {
				if err != nil {
					refused.Add(1)
				}
			},
		})
		err := send(ctx, tr, method, s.url(), id, false)
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, id)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s %s: %v", method, id, err))
		}
	}
	wg.Add(1)
	go down(0)
	waitFor(t, "a refused dial", func() bool { return refused.Load() > 0 })
	for i := 1; i < 40; i++ {
		wg.Add(1)
		go down(i)
	}
	waitFor(t, "more refused dials", func() bool { return refused.Load() > 10 })
	time.Sleep(100 * time.Millisecond) // stay down ~100 ms, as a restart would
	s.start()
	load("after", 50)
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d requests failed: %v", len(failed), failed)
	}
	for _, id := range ids {
		if got := d.of(id); got != 1 {
			t.Errorf("request %s ran %d times, want 1", id, got)
		}
	}
	if len(d.bad) > 0 {
		t.Errorf("bodies arrived wrong: %v", d.bad)
	}
}

// TestRetryRefused: a request refused at the dial is retried whatever its method and even with
// a body that cannot be replayed; a cancelled context stops the retries; with no upstream at all
// the retries end after the retry window.
// refused reports a refused connection, by Windows' WSAECONNREFUSED (10061) too, which
// syscall.ECONNREFUSED does not match there.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.Errno(10061))
}

func TestRetryRefused(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			d := newDeliveries()
			s := newServer(t, newPKI(t), d.handler(), false, 0)
			s.stop()
			tr := newTransport(t, s.p, Options{})
			var once sync.Once
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				ConnectDone: func(_, _ string, err error) {
					if err != nil {
						once.Do(s.start) // the upstream comes back after the first refusal
					}
				},
			})
			if err := send(ctx, tr, method, s.url(), "r1", false); err != nil {
				t.Fatalf("%s failed: %v", method, err)
			}
			if got := d.of("r1"); got != 1 {
				t.Fatalf("ran %d times, want 1", got)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "https://" + ln.Addr().String()
		_ = ln.Close() // nobody listens: every dial is refused
		tr := newTransport(t, newPKI(t), Options{})
		ctx, cancel := context.WithCancel(context.Background())
		var dials atomic.Int64
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			ConnectDone: func(_, _ string, err error) {
				if dials.Add(1) == 3 {
					cancel()
				}
			},
		})
		done := make(chan error, 1)
		go func() { done <- send(ctx, tr, http.MethodPost, url, "c", false) }()
		select {
		case err := <-done:
			if !refused(err) && !errors.Is(err, context.Canceled) {
				t.Fatalf("error = %v, want connection refused or canceled", err)
			}
		case <-time.After(20 * time.Second): // a bound against hangs
			t.Fatal("a cancelled request kept retrying")
		}
		if got := dials.Load(); got > 4 {
			t.Errorf("%d dials after cancelling at the third", got)
		}
	})
	t.Run("window", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "https://" + ln.Addr().String()
		_ = ln.Close()
		tr := newTransport(t, newPKI(t), Options{})
		var dials atomic.Int64
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			ConnectDone: func(_, _ string, _ error) { dials.Add(1) },
		})
		err = send(ctx, tr, http.MethodGet, url, "w", false)
		if !refused(err) {
			t.Fatalf("error = %v, want connection refused", err)
		}
		if got := dials.Load(); got < 2 {
			t.Errorf("%d dials, want retries", got)
		}
	})
}

// TestNoRetryOnceWritten: a request the upstream read but did not answer (it closed the
// connection) is not sent again by RoundTrip, whatever its method: it may have run.
func TestNoRetryOnceWritten(t *testing.T) {
	p := newPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.leaf}})
	if err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			if n, _ := c.Read(buf); n > 0 { // the request's head arrived; hang up unanswered
				reads.Add(1)
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	tr := newTransport(t, p, Options{})
	for i, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			before := reads.Load()
			err := send(context.Background(), tr, method, "https://"+ln.Addr().String(), fmt.Sprint(i), false)
			if err == nil {
				t.Fatal("no error from an unanswered request")
			}
			if got := reads.Load() - before; got != 1 {
				t.Fatalf("the upstream read the request %d times, want 1", got)
			}
		})
	}
}

// TestIdleCloseRace (fault b): the upstream closes connections idle for 100 ms; POSTs sent
// just after it did are neither lost nor run twice. With idle_timeout below the upstream's,
// none fails; above it, a POST may fail (net/http cannot know whether it ran) but never runs
// twice, and one that failed did not run.
func TestIdleCloseRace(t *testing.T) {
	tests := []struct {
		name     string
		idle     time.Duration
		mayFail  bool
		replayOK bool
	}{
		{"idle_timeout below the upstream's", 30 * time.Millisecond, false, false},
		{"idle_timeout above, replayable bodies", time.Minute, true, true},
		{"idle_timeout above, streamed bodies", time.Minute, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeliveries()
			s := newServer(t, newPKI(t), d.handler(), false, 100*time.Millisecond)
			tr := newTransport(t, s.p, Options{IdleTimeout: tt.idle})
			fails := 0
			defer func() { t.Logf("%d of 5 POSTs failed (and did not run)", fails) }()
			for i := range 5 {
				id := fmt.Sprint(i)
				// Every connection closed: by the upstream after 100 ms idle, or by us first.
				waitFor(t, "the idle connection closed", func() bool { return s.closedN.Load() == s.accepted.Load() })
				err := send(context.Background(), tr, http.MethodPost, s.url(), id, tt.replayOK)
				if err != nil {
					fails++
				}
				switch got := d.of(id); {
				case err == nil && got != 1:
					t.Errorf("POST %s succeeded and ran %d times", id, got)
				case err != nil && (!tt.mayFail || got != 0):
					t.Errorf("POST %s failed (%v) and ran %d times", id, err, got)
				}
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
