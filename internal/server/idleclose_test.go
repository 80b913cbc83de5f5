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
// idle connections after 300 ms; POSTs sent just after that moment, on a pool that still
// holds those connections, are neither lost nor run twice.
func TestPOSTsAfterTheUpstreamClosedIdleConnections(t *testing.T) {
	h := newHarness(t, Options{}, func(c *config.Config) { c.Upstream.IdleTimeout = time.Minute })
	h.serve(t)
	h.ready(t)
	h.em.SetIdleClose(300 * time.Millisecond)
	url := h.url("/api/v3/" + h.em.UserID() + "/_echo")
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	const rounds, parallel = 4, 8
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
		eventually(t, "the upstream closing the idle pooled connections", func() bool {
			return h.em.Counters().IdleClosed > before
		})
		for i := 0; i < parallel; i++ {
			wg.Add(1)
			go post("the real thing")
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("round %d: a POST failed: %s", round, e)
		}
	}
	posts := 0
	for _, r := range h.em.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/_echo") {
			posts++
		}
	}
	if want := rounds * parallel * 2; posts != want {
		t.Errorf("the upstream saw %d POSTs, want %d: each exactly once", posts, want)
	}
}
