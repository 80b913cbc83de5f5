package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
)

// TestPOSTsAfterTheUpstreamClosedIdleConnections: the upstream (like a load balancer) closes
// idle connections (after 1.5 s, or 300 ms), and POSTs are sent just after that moment. With
// upstream.idle_timeout below it (as the default 45s is below the usual 60s) the proxy has
// dropped those connections first: no POST fails. With it above, a POST can go out on a
// connection at the very moment the upstream closes it and get a 502; but none runs twice.
func TestPOSTsAfterTheUpstreamClosedIdleConnections(t *testing.T) {
	for _, tt := range []struct {
		name        string
		idleTimeout time.Duration
		mayFail     bool
	}{
		{"idle_timeout below the upstream's", time.Second, false},
		{"idle_timeout above the upstream's", time.Minute, true},
	} {
		t.Run(tt.name, func(t *testing.T) { postsAfterIdleClose(t, tt.idleTimeout, tt.mayFail) })
	}
}

func postsAfterIdleClose(t *testing.T, idleTimeout time.Duration, mayFail bool) {
	h := newHarness(t, Options{}, func(c *config.Config) { c.Upstream.IdleTimeout = idleTimeout })
	h.serve(t)
	h.ready(t)
	upstreamClose := 300 * time.Millisecond
	if !mayFail {
		upstreamClose = 1500 * time.Millisecond
	}
	h.em.SetIdleClose(upstreamClose)
	url := h.url("/api/v3/" + h.em.UserID() + "/_echo")
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	rounds, parallel := 4, 8
	if !mayFail {
		rounds = 2
	}
	failed := 0
	for round := 0; round < rounds; round++ {
		// Fill the pool, let the upstream close it, then POST just after.
		var wg sync.WaitGroup
		errs := make(chan string, parallel)
		post := func(body string) {
			defer wg.Done()
			resp, err := client.Post(url, "text/plain", strings.NewReader(body))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var echo struct {
				BodyBytes int64 `json:"body_bytes"`
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || json.Unmarshal(b, &echo) != nil || echo.BodyBytes != int64(len(body)) {
				errs <- resp.Status + " " + string(b)
			}
		}
		for i := 0; i < parallel; i++ {
			wg.Add(1)
			go post("warm-up")
		}
		before := h.em.Counters().IdleClosed
		wg.Wait()
		if mayFail {
			eventually(t, "the upstream closing the idle pooled connections", func() bool {
				return h.em.Counters().IdleClosed > before
			})
		} else {
			time.Sleep(upstreamClose + 100*time.Millisecond) // past both idle timeouts
		}
		for i := 0; i < parallel; i++ {
			wg.Add(1)
			go post("the real thing")
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			failed++
			if !mayFail {
				t.Errorf("round %d: a POST failed: %s", round, e)
			}
		}
	}
	posts := 0
	for _, r := range h.em.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/_echo") {
			posts++
		}
	}
	if sent := rounds * parallel * 2; posts > sent || posts < sent-failed {
		t.Errorf("the upstream saw %d POSTs; %d sent, %d failed: none may run twice", posts, sent, failed)
	}
	t.Logf("%d of %d POSTs failed", failed, rounds*parallel*2)
}
