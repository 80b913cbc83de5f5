package proxy_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkProxyGET is a small authenticated GET end to end: client -> proxy -> emulator over
// TLS and back, all in this process. Its ns/op and allocs/op include the client and the
// emulator; compare runs of it, not its absolute time (bench/run.sh measures the proxy alone).
func BenchmarkProxyGET(b *testing.B) {
	h := newHarness(b, setup{})
	url := h.front.URL + "/api/v3/" + h.em.UserID() + "/services"
	h.get("/api/v3/"+h.em.UserID()+"/services", http.StatusOK) // warm the token and the pools
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := h.client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
