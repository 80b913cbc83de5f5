package emulator

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

func TestProtocols(t *testing.T) {
	cases := []struct {
		name      string
		disable   bool
		http1Only bool
		want      string
	}{
		{"h2 by default", false, false, "HTTP/2.0"},
		{"http1 client", false, true, "HTTP/1.1"},
		{"h2 disabled", true, false, "HTTP/1.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{DisableHTTP2: tc.disable})
			c := newClient(t, s, clientOpts{http1Only: tc.http1Only})
			a := do(t, c, "GET", s.URL()+"/api/v3/auth/token", "", "api_key: "+s.APIKey())
			if a.status != 200 || a.proto != tc.want {
				t.Fatalf("status %d proto %s, want %s", a.status, a.proto, tc.want)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	s := start(t, Options{})
	block, _ := pem.Decode(s.CAPEM())
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("CAPEM: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, name := range []string{"127.0.0.1", "localhost"} {
		t.Run(name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: pool, ServerName: name, NextProtos: []string{"h2", "http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if st := conn.ConnectionState(); st.NegotiatedProtocol != "h2" || st.Version < tls.VersionTLS12 {
				t.Errorf("ALPN %q version %x", st.NegotiatedProtocol, st.Version)
			}
		})
	}
	t.Run("tls 1.1 refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11})
		if err == nil {
			conn.Close()
			t.Fatal("TLS 1.1 handshake succeeded")
		}
	})
	t.Run("untrusting client refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: x509.NewCertPool()})
		if err == nil {
			conn.Close()
			t.Fatal("handshake succeeded without the CA")
		}
	})
}

func TestWriteCAFile(t *testing.T) {
	s := start(t, Options{})
	path := filepath.Join(testkit.TempDir(t), "ca.pem")
	if err := s.WriteCAFile(path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, s.CAPEM()) {
		t.Fatalf("file holds %d bytes (%v), want CAPEM", len(b), err)
	}
	if err := s.WriteCAFile(filepath.Join(testkit.TempDir(t), "missing", "ca.pem")); err == nil ||
		!strings.HasPrefix(err.Error(), "emulator: ") {
		t.Errorf("error %v, want an emulator error", err)
	}
}

func TestZeroOptions(t *testing.T) {
	s, err := Start(Options{}) // zero Logger included
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || s.URL() != "https://"+s.Addr() {
		t.Errorf("Addr %q URL %q", s.Addr(), s.URL())
	}
	wantError(t, do(t, newClient(t, s, clientOpts{}), "GET", s.URL()+"/nowhere", ""), 404)
}

func TestStartBadAddr(t *testing.T) {
	_, err := Start(Options{Addr: "256.0.0.1:1"})
	if err == nil || !strings.HasPrefix(err.Error(), "emulator: listen") {
		t.Fatalf("error %v, want emulator: listen ...", err)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{http1Only: true})
	tok := tokenFor(t, s, c, s.APIKey())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, q := range []string{"sleep=1h", "chunks=3&delay=1h"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := try(c, "GET", s.URL()+"/api/v3/"+s.UserID()+"/_echo?"+q, "", xAuth(tok))
			errs <- err
		}()
	}
	waitFor(t, func() bool { return len(s.Requests()) == 3 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Error("a request outlived Close without an error")
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Error("still listening after Close")
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5 s")
}

func BenchmarkAuthenticatedGET(b *testing.B) {
	for _, h1 := range []bool{false, true} {
		b.Run(map[bool]string{false: "h2", true: "http1"}[h1], func(b *testing.B) {
			s := start(b, Options{})
			c := newClient(b, s, clientOpts{http1Only: h1})
			tok := tokenFor(b, s, c, s.APIKey())
			url := s.URL() + "/api/v3/" + s.UserID() + "/services"
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a, err := try(c, "GET", url, "", xAuth(tok))
					if err != nil || a.status != http.StatusOK {
						b.Errorf("status %d: %v", a.status, err)
						return
					}
				}
			})
		})
	}
}
