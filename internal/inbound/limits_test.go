package inbound

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		at        time.Duration // since t0
		wantOK    bool
		wantRetry int
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{"burst from rate", 2, 0, []step{{0, true, 0}, {0, true, 0}, {0, false, 1}, {499 * time.Millisecond, false, 1}, {500 * time.Millisecond, true, 0}}},
		{"slow rate", 0.5, 0, []step{{0, true, 0}, {0, false, 2}, {time.Second, false, 1}, {2 * time.Second, true, 0}}},
		{"explicit burst", 1, 3, []step{{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, 1}, {10 * time.Second, true, 0}, {10 * time.Second, true, 0}, {10 * time.Second, true, 0}, {10 * time.Second, false, 1}}},
		{"clock going back", 1, 1, []step{{10 * time.Second, true, 0}, {5 * time.Second, false, 1}, {11 * time.Second, true, 0}}},
		{"very slow rate", 0.001, 1, []step{{0, true, 0}, {0, false, 1000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucket(tt.rate, tt.burst)
			for i, s := range tt.steps {
				ok, retry := b.take(t0.Add(s.at))
				if ok != s.wantOK || retry != s.wantRetry {
					t.Errorf("step %d at %v: take = %v, %d; want %v, %d", i, s.at, ok, retry, s.wantOK, s.wantRetry)
				}
			}
		})
	}
	if newBucket(0, 0) != nil {
		t.Error("rate 0 gave a bucket")
	}
}

func TestRateLimit(t *testing.T) {
	cfg := Config{Clients: []Client{
		{Name: "slow", TokenSHA256: HashToken(aliceToken), RatePerSecond: 0.01, Burst: 1},
		{Name: "free", TokenSHA256: HashToken(readerToken)},
	}}
	f := newFixture(t, cfg, "10.0.0.5:20000")
	slow := []string{"Authorization: Bearer " + aliceToken}
	check(t, f, f.send(t, req{headers: slow}), 200, "", 0)
	got := f.send(t, req{headers: slow})
	check(t, f, got, 429, "rate", 1)
	if ra := got.header.Get("Retry-After"); ra != "100" {
		t.Errorf("Retry-After = %q, want 100", ra)
	}
	for i := 0; i < 3; i++ { // another client has its own bucket, here none
		check(t, f, f.send(t, req{headers: []string{"Authorization: Bearer " + readerToken}}), 200, "", 1+i)
	}
}

func TestMaxBody(t *testing.T) {
	tests := []struct {
		name       string
		headers    []string
		body       string
		wantStatus int
		wantReason string
		wantRan    bool
	}{
		{"length over the limit", []string{"Content-Length: 11"}, "0123456789a", 413, "body_too_large", false},
		{"length at the limit", []string{"Content-Length: 10"}, "0123456789", 200, "", true},
		{"chunked over the limit", []string{"Transfer-Encoding: chunked"}, "b\r\n0123456789a\r\n0\r\n\r\n", 413, "body_too_large", true},
		{"chunked at the limit", []string{"Transfer-Encoding: chunked"}, "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", 200, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{MaxBodyBytes: 10}, "127.0.0.1:20000")
			got := raw(t, f.addr, "POST", "/api/v3/0123/services", "localhost", tt.headers, tt.body)
			if got.status != tt.wantStatus || (f.be.count() == 1) != tt.wantRan {
				t.Fatalf("status %d, backend ran %v; want %d, %v", got.status, f.be.count() == 1, tt.wantStatus, tt.wantRan)
			}
			if labels := f.rej.all(); labels != tt.wantReason {
				t.Errorf("OnReject labels = %q, want %q", labels, tt.wantReason)
			}
			if tt.wantStatus == 413 && !strings.Contains(got.body, `"code":413`) {
				t.Errorf("body = %q, want a JSON error", got.body)
			}
		})
	}
}

func TestConcurrencyCap(t *testing.T) {
	entered, release := make(chan struct{}, 4), make(chan struct{})
	blocking := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	rej := &rejects{}
	g, err := New(Config{MaxConcurrentRequests: 2}, Options{Listen: "127.0.0.1:20000", Logger: zerolog.Nop(), OnReject: rej.add})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Wrap(blocking))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	get := func() (*http.Response, error) {
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v3/x", nil)
		return srv.Client().Do(r)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := get()
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("held request: status %d", resp.StatusCode)
			}
		}()
	}
	for i := 0; i < 2; i++ {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("held requests never reached the backend")
		}
	}
	got := raw(t, srv.Listener.Addr().String(), "GET", "/api/v3/x", "localhost", nil, "")
	if got.status != 503 || got.header.Get("Retry-After") != "1" || rej.all() != "overload" {
		t.Errorf("third request: status %d, Retry-After %q, OnReject %q; want 503, 1, overload",
			got.status, got.header.Get("Retry-After"), rej.all())
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := raw(t, srv.Listener.Addr().String(), "GET", "/api/v3/x", "localhost", nil, ""); got.status != 200 {
		t.Errorf("after release: status %d, want 200", got.status)
	}
}
