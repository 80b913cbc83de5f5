package upstream

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
)

// bufSizes are the buffer sizes measured: bufferSize (set it to others to compare).
var bufSizes = []int{bufferSize}

// BenchmarkIdleConns reports the heap each pooled connection holds (client and server side
// together: the server's share is the same for every size) for each buffer size.
//
//	go test -run '^$' -bench IdleConns -benchtime 1x ./internal/upstream/
func BenchmarkIdleConns(b *testing.B) {
	const n = 256
	for _, size := range bufSizes {
		b.Run(fmt.Sprintf("buf=%dKiB", size>>10), func(b *testing.B) {
			for range b.N {
				gate := make(chan struct{})
				var in sync.WaitGroup
				in.Add(n)
				s := newServer(b, newPKI(b), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					in.Done()
					<-gate
				}), false, 0)
				tr := newTransport(b, s.p, Options{MaxConns: n})
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				var done sync.WaitGroup
				for range n {
					done.Add(1)
					go func() {
						defer done.Done()
						req, _ := http.NewRequest(http.MethodGet, s.url(), nil)
						if resp, err := tr.RoundTrip(req); err == nil {
							_, _ = io.Copy(io.Discard, resp.Body)
							_ = resp.Body.Close()
						}
					}()
				}
				in.Wait()
				close(gate)
				done.Wait()
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n/1024, "KiB/conn")
				tr.CloseIdleConnections()
				s.stop()
			}
		})
	}
}

// BenchmarkDownload streams 256 MiB through the transport as ReverseProxy would (32 KiB
// copies) for each buffer size.
//
//	go test -run '^$' -bench Download -benchtime 2x ./internal/upstream/
func BenchmarkDownload(b *testing.B) {
	const total = 256 << 20
	chunk := make([]byte, 32<<10)
	s := newServer(b, newPKI(b), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(total))
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}), false, 0)
	for _, size := range bufSizes {
		b.Run(fmt.Sprintf("buf=%dKiB", size>>10), func(b *testing.B) {
			tr := newTransport(b, s.p, Options{})
			buf := make([]byte, 32<<10)
			b.SetBytes(total)
			for range b.N {
				req, _ := http.NewRequest(http.MethodGet, s.url(), nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, buf)
				_ = resp.Body.Close()
				if err != nil || n != total {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
		})
	}
}
