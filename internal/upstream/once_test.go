package upstream

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallingBody sends its first bytes, then blocks until released: a client that stopped
// sending its upload.
type stallingBody struct {
	first   io.Reader
	release chan struct{}
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if n, _ := b.first.Read(p); n > 0 {
		return n, nil
	}
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

func (b *stallingBody) Close() error { return nil }

// TestAnswerBeforeBody (issue 16): an upstream that answers 413 before reading the body gets
// its answer to the caller while the client's body is stalled; the retry layer used to hold a
// lock across the body's Read, so the answer waited for the client's next byte.
func TestAnswerBeforeBody(t *testing.T) {
	s := newServer(t, newPKI(t), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}), false, 0)
	tr := newTransport(t, s.p, Options{})
	body := &stallingBody{first: strings.NewReader(strings.Repeat("x", 100)), release: make(chan struct{})}
	defer close(body.release)
	req, _ := http.NewRequest(http.MethodPost, s.url(), body)
	req.ContentLength = 10 << 20
	done := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", resp.StatusCode)
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
	case <-time.After(10 * time.Second): // a bound against hangs: the answer is immediate
		t.Fatal("the upstream's 413 did not reach the caller while the body was stalled")
	}
}

// TestIdempotencyKeySentOnce (issue 19, double execution): a POST with Idempotency-Key or
// X-Idempotency-Key on a kept-alive connection that the upstream closes after reading it is
// not sent again, as net/http would for a request it holds idempotent; a GET is.
func TestIdempotencyKeySentOnce(t *testing.T) {
	p := newPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.leaf}})
	if err != nil {
		t.Fatal(err)
	}
	var got sync.Map // the request's X-Request-Id -> *atomic.Int64, how often it arrived
	var wg sync.WaitGroup
	serve := func(c net.Conn) {
		defer wg.Done()
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			n, _ := got.LoadOrStore(req.Header.Get("X-Request-Id"), new(atomic.Int64))
			if n.(*atomic.Int64).Add(1) == 1 && req.Header.Get("X-Hang-Up") != "" {
				return // read it, then hang up unanswered: it may have run
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go serve(c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	tr := newTransport(t, p, Options{MaxConns: 1})
	send := func(method, id, header string) error {
		req, _ := http.NewRequest(method, "https://"+ln.Addr().String(), nil)
		req.Header.Set("X-Request-Id", id)
		if header != "" {
			req.Header.Set(header, "k-"+id)
			req.Header.Set("X-Hang-Up", "1")
		}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body) // the connection goes back to the pool
			resp.Body.Close()
		}
		return err
	}
	count := func(id string) int64 {
		if n, ok := got.Load(id); ok {
			return n.(*atomic.Int64).Load()
		}
		return 0
	}
	for _, tt := range []struct{ method, header string }{
		{http.MethodPost, "Idempotency-Key"}, {http.MethodPost, "X-Idempotency-Key"},
		{http.MethodDelete, "Idempotency-Key"}, {http.MethodGet, "Idempotency-Key"},
	} {
		t.Run(tt.method+" "+tt.header, func(t *testing.T) {
			id := tt.method + "-" + tt.header
			if err := send(http.MethodGet, "warm-"+id, ""); err != nil { // a kept-alive connection
				t.Fatal(err)
			}
			err := send(tt.method, id, tt.header)
			want := int64(1)
			if tt.method == http.MethodGet {
				want = 2 // net/http resends a GET: it is idempotent
			}
			if n := count(id); n != want {
				t.Fatalf("the upstream got the request %d times (error %v), want %d", n, err, want)
			}
		})
	}
}

// TestPoolWait (issue 19, pool starvation): with every connection of max_conns busy, a request
// waits at most Timeout for one, then fails with a *PoolError naming the pool's size, and
// Saturated says so; once a connection is free again, requests go through.
func TestPoolWait(t *testing.T) {
	release := make(chan struct{})
	var held sync.WaitGroup
	held.Add(1)
	s := newServer(t, newPKI(t), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" { // answer, then hold the connection with the body
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			held.Done()
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}), false, 0)
	tr := newTransport(t, s.p, Options{MaxConns: 1, Timeout: 2 * time.Second}) // also the header wait: room for a busy machine
	first := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.url()+"/hold", nil)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		first <- err
	}()
	held.Wait()
	if tr.Saturated() {
		t.Fatal("saturated before any request waited")
	}
	req, _ := http.NewRequest(http.MethodGet, s.url()+"/next", nil)
	resp, err := tr.RoundTrip(req)
	var pe *PoolError
	if !errors.As(err, &pe) || pe.MaxConns != 1 {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("error = %v, want a *PoolError for 1 connection", err)
	}
	if !strings.Contains(err.Error(), "upstream.max_conns") {
		t.Errorf("error %q does not name upstream.max_conns", err)
	}
	if !tr.Saturated() {
		t.Error("not saturated after a request gave up waiting")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodGet, s.url()+"/after", nil)
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("after the pool freed up: %v", err)
	}
	resp.Body.Close()
}
