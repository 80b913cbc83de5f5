package tokensource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestTransportReplaysOnlyOnce: an upstream that rejects every token gets the request twice,
// and the client gets the second answer.
func TestTransportReplaysOnlyOnce(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "answer %d", n.Add(1))
	}))
	defer srv.Close()
	c, src := warmCached(t)
	tr := &Transport{Cache: c, Base: srv.Client().Transport}
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, srv.URL, bytes.NewReader([]byte("x")))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || string(body) != "answer 2" || n.Load() != 2 || src.Calls() != 2 {
		t.Errorf("client got %d %q after %d upstream requests and %d exchanges; want 401 \"answer 2\" after 2 and 2",
			resp.StatusCode, body, n.Load(), src.Calls())
	}
}

// stalledBody has sent a few bytes and then waits for its client.
type stalledBody struct {
	pr   *io.PipeReader
	pw   *io.PipeWriter
	sent chan struct{} // closed when the transport has read the first bytes
}

func newStalledBody(first []byte) *stalledBody {
	pr, pw := io.Pipe()
	b := &stalledBody{pr: pr, pw: pw, sent: make(chan struct{})}
	go func() {
		_, _ = pw.Write(first) // returns when the transport has read it
		close(b.sent)
	}()
	return b
}

// TestReplayMemoryReservedByBytesRead: slow chunked uploads hold as much of the replay memory budget as
// they have sent, not the 1 MiB they might come to, so that 20 stalled ones leave room for the
// next request's replay.
func TestReplayMemoryReservedByBytesRead(t *testing.T) {
	const stalled = 20
	up := newUpstream(t, rejectTok1(http.StatusUnauthorized))
	c, _ := warmCached(t)
	tr := &Transport{Cache: c, Base: up.srv.Client().Transport} // 1 MiB per body, 16 MiB in all
	first := []byte("{\"na")
	bodies := make([]*stalledBody, stalled)
	var wg sync.WaitGroup
	for i := range bodies {
		bodies[i] = newStalledBody(first)
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, up.srv.URL, bodies[i].pr)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	defer func() { // the stalled clients finish their uploads
		for _, b := range bodies {
			_, _ = b.pw.Write([]byte("me\":1}"))
			b.pw.Close()
		}
		wg.Wait()
		if n := tr.replayMemory.Load(); n != 0 {
			t.Errorf("%d bytes of replay memory still reserved", n)
		}
	}()
	for _, b := range bodies {
		<-b.sent
	}
	eventually(t, "the stalled bodies' bytes reserved", func() bool { return tr.replayMemory.Load() >= stalled*int64(len(first)) })

	payload := []byte(`{"name":"svc"}`)
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, up.srv.URL, io.MultiReader(bytes.NewReader(payload)))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with %d stalled uploads holding %d bytes, a chunked POST got %d, want 200 after its replay",
			stalled, tr.replayMemory.Load(), resp.StatusCode)
	}
	got := up.requests()
	if len(got) != 2 || !bytes.Equal(got[0].body, payload) || !bytes.Equal(got[1].body, payload) {
		t.Errorf("upstream got %d requests, want the body twice", len(got))
	}
}

// TestReplayBodyShapes: kept bodies arrive whole, however the client delivers them and however
// they compare with the buffer's growth steps and the limit.
func TestReplayBodyShapes(t *testing.T) {
	const limit = 3000
	tests := []struct {
		name       string
		size       int
		known      bool
		wantStatus int // after the upstream rejected tok-1
	}{
		{"empty chunked", 0, false, http.StatusOK},
		{"one byte chunked", 1, false, http.StatusOK},
		{"512 bytes chunked, the first buffer", 512, false, http.StatusOK},
		{"limit chunked", limit, false, http.StatusOK},
		{"limit+1 chunked: streamed", limit + 1, false, http.StatusUnauthorized},
		{"known 513", 513, true, http.StatusOK},
		{"known limit", limit, true, http.StatusOK},
		{"known limit+1: streamed", limit + 1, true, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, rejectTok1(http.StatusUnauthorized))
			c, _ := warmCached(t)
			tr := &Transport{Cache: c, Base: up.srv.Client().Transport, MaxReplayBytes: limit}
			payload := randomBytes(t, tt.size)
			req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, up.srv.URL, io.NopCloser(&trickle{data: payload}))
			if tt.known {
				req.ContentLength = int64(tt.size)
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			for i, s := range up.requests() {
				if !bytes.Equal(s.body, payload) {
					t.Errorf("request %d carried %d bytes, want all %d", i, len(s.body), len(payload))
				}
			}
			if n := tr.replayMemory.Load(); n != 0 {
				t.Errorf("%d bytes of replay memory still reserved", n)
			}
		})
	}
}

// trickle delivers its data at most 700 bytes a read.
type trickle struct{ data []byte }

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 700)], r.data)
	r.data = r.data[n:]
	return n, nil
}
