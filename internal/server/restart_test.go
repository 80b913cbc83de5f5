package server

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
)

// TestUpstreamRestartUnderLoad: the upstream stops listening (its connections closed, new ones
// refused) and comes back on the same address while clients send GETs and POSTs through the
// proxy. Requests that never reached it are retried, and no POST arrives twice. A POST cut
// while the upstream had it may fail (it may have run: it is not sent again); over HTTP/1.1
// net/http resends a GET cut so, over HTTP/2 it does not (a GET in flight may fail too).
func TestUpstreamRestartUnderLoad(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) { restartUnderLoad(t, h2) })
	}
}

func restartUnderLoad(t *testing.T, h2 bool) {
	h := newHarness(t, Options{}, func(c *config.Config) { c.Upstream.HTTP2 = h2 })
	h.serve(t)
	h.ready(t)
	url := h.url("/api/v3/" + h.em.UserID() + "/_echo")
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var posts, postOK, failures atomic.Int64
	var mu sync.Mutex
	var first string
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var resp *http.Response
				var err error
				if i%2 == 0 {
					resp, err = client.Get(url)
				} else {
					posts.Add(1)
					resp, err = client.Post(url, "text/plain", strings.NewReader("restart"))
				}
				if err == nil {
					resp.Body.Close()
				}
				ok := err == nil && resp.StatusCode == 200
				if ok && i%2 == 1 {
					postOK.Add(1)
				}
				if !ok && i%2 == 0 {
					failures.Add(1)
					mu.Lock()
					if first == "" {
						first = "a request failed: "
						if err != nil {
							first += err.Error()
						} else {
							first += resp.Status
						}
					}
					mu.Unlock()
				}
			}
		}(i)
	}
	served := func() int { return len(h.em.Requests()) }
	base := served()
	eventually(t, "load flowing", func() bool { return served() > base+50 })
	if err := h.em.StopListening(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // down for a while, as a restart is
	if err := h.em.ResumeListening(); err != nil {
		t.Fatal(err)
	}
	base = served()
	eventually(t, "load flowing after the restart", func() bool { return served() > base+50 })
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 && (!h2 || n > 4) { // 4 GET clients: one in flight each
		t.Errorf("%d GETs failed through an upstream restart; %s", n, first)
	}
	got := 0
	for _, r := range h.em.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/_echo") {
			got++
		}
	}
	if sent, ok := int(posts.Load()), int(postOK.Load()); got > sent || got < ok || sent-ok > 4 { // 4 POST clients: one in flight each
		t.Errorf("the upstream saw %d POSTs; %d were sent and %d answered 200: none may arrive twice, "+
			"and only those in flight at the restart may fail", got, sent, ok)
	}
}
