package upstream

import (
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
}

// get sends a GET to url on tr and returns the response with its body read and closed.
func get(t *testing.T, tr http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp, nil
}

func TestReadCA(t *testing.T) {
	p := newPKI(t)
	dir := testkit.TempDir(t)
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw})))
	tests := []struct {
		name, path, want string
	}{
		{"good", good, ""},
		{"missing", filepath.Join(dir, "nope.pem"), "upstream.ca_file: cannot read " + filepath.Join(dir, "nope.pem")},
		{"not PEM", write("x.pem", "hello"), "holds no PEM certificate"},
		{"broken certificate", write("b.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))), "certificate 1 cannot be parsed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := ReadCA(tt.path)
			if tt.want == "" {
				if err != nil || !pool.Equal(p.pool) {
					t.Fatalf("ReadCA = %v, %v; want the CA", pool, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "upstream.ca_file: ") {
				t.Fatalf("ReadCA error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no CA", Options{}, "upstream.ca_file"},
		{"negative max_conns", Options{CAPool: p.pool, MaxConns: -1}, "upstream.max_conns: -1"},
		{"negative idle_timeout", Options{CAPool: p.pool, IdleTimeout: -time.Second}, "upstream.idle_timeout: -1s"},
		{"bad pin", Options{CAPool: p.pool, Pins: []string{"sha1/abc"}}, `upstream.pins: "sha1/abc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	p := newPKI(t)
	tr := newTransport(t, p, Options{})
	o := tr.Options()
	if o.MaxConns != 256 || o.MaxIdleConns != 256 || o.IdleTimeout != 45*time.Second || o.Timeout != DefaultTimeout {
		t.Fatalf("defaults = max_conns %d, max_idle_conns %d, idle_timeout %s, timeout %s; want 256, 256, 45s, 60s",
			o.MaxConns, o.MaxIdleConns, o.IdleTimeout, o.Timeout)
	}
	g := tr.cur.Load().http
	if g.MaxConnsPerHost != 256 || g.IdleConnTimeout != 45*time.Second || g.ReadBufferSize != bufferSize {
		t.Fatalf("http.Transport: MaxConnsPerHost %d, IdleConnTimeout %s, ReadBufferSize %d", g.MaxConnsPerHost, g.IdleConnTimeout, g.ReadBufferSize)
	}
}

// TestMaxConns: 1000 concurrent requests open at most max_conns connections, and all succeed.
// HTTP/1.1 only: see Options.MaxConns for HTTP/2.
func TestMaxConns(t *testing.T) {
	for _, h2 := range []bool{false} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2]
		t.Run(name, func(t *testing.T) {
			const maxConns, n = 4, 1000
			gate := make(chan struct{})
			var inHandler sync.WaitGroup
			inHandler.Add(1)
			var once sync.Once
			s := newServer(t, newPKI(t), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				once.Do(inHandler.Done)
				<-gate
				if h2 != (r.ProtoMajor == 2) {
					http.Error(w, "wrong protocol "+r.Proto, http.StatusBadRequest)
					return
				}
				_, _ = io.WriteString(w, "ok")
			}), h2, 0)
			tr := newTransport(t, s.p, Options{MaxConns: maxConns, HTTP1Only: !h2})
			var started, done sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				started.Add(1)
				done.Add(1)
				go func() {
					defer done.Done()
					started.Done()
					resp, err := get(t, tr, s.url())
					if err == nil && resp.StatusCode != http.StatusOK {
						err = errors.New(resp.Status)
					}
					errs <- err
				}()
			}
			started.Wait()
			inHandler.Wait()
			close(gate)
			done.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("a request failed: %v", err)
				}
			}
			if got := s.accepted.Load(); got > maxConns || got < 1 {
				t.Fatalf("the server accepted %d connections, want 1..%d", got, maxConns)
			}
		})
	}
}

// TestIdleTimeout: an idle pooled connection is closed by the proxy after idle_timeout.
func TestIdleTimeout(t *testing.T) {
	s := newServer(t, newPKI(t), okHandler(), false, 0)
	tr := newTransport(t, s.p, Options{IdleTimeout: 50 * time.Millisecond})
	if _, err := get(t, tr, s.url()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.closed:
	case <-time.After(10 * time.Second): // a bound against hangs: the default would be 45 s
		t.Fatal("the idle connection was not closed")
	}
}

// TestSessionResumption: a new connection resumes the TLS session; a Swap with the same CA
// changes nothing, one with a changed CA pool starts a new session cache.
func TestSessionResumption(t *testing.T) {
	s := newServer(t, newPKI(t), okHandler(), false, 0)
	tr := newTransport(t, s.p, Options{})
	other := newPKI(t)
	changed := s.p.pool.Clone()
	changed.AddCert(other.ca)
	steps := []struct {
		name       string
		pool       func() error
		wantResume bool
	}{
		{"first connection", func() error { return nil }, false},
		{"after closing idle connections", func() error { tr.CloseIdleConnections(); return nil }, true},
		{"after a reload with the same CA", func() error { return tr.Reload(s.p.pool.Clone(), nil) }, true},
		{"after a reload with a changed CA", func() error { return tr.Reload(changed, nil) }, false},
		{"after closing idle connections again", func() error { tr.CloseIdleConnections(); return nil }, true},
	}
	for _, st := range steps {
		if err := st.pool(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		resp, err := get(t, tr, s.url())
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if resp.TLS.DidResume != st.wantResume {
			t.Errorf("%s: DidResume = %v, want %v", st.name, resp.TLS.DidResume, st.wantResume)
		}
	}
}
