package testkit

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestIssue(t *testing.T) {
	ca := NewCA(t, "test CA")
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "test CA" || ca.Cert.KeyUsage != x509.KeyUsageCertSign {
		t.Fatalf("CA: IsCA %v, CN %q, key usage %v", ca.Cert.IsCA, ca.Cert.Subject.CommonName, ca.Cert.KeyUsage)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tests := []struct {
		name   string
		server bool
		usage  x509.ExtKeyUsage
		ips    string
	}{
		{"server", true, x509.ExtKeyUsageServerAuth, "[127.0.0.1]"},
		{"client", false, x509.ExtKeyUsageClientAuth, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp := ca.Issue(t, "leaf-"+tt.name, tt.server)
			c := kp.Cert
			if c.IsCA || c.Subject.CommonName != "leaf-"+tt.name || fmt.Sprint(c.IPAddresses) != tt.ips ||
				len(c.DNSNames) != 0 || len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != tt.usage {
				t.Errorf("IsCA %v, CN %q, IPs %v, DNS names %v, ext key usage %v", c.IsCA, c.Subject.CommonName,
					c.IPAddresses, c.DNSNames, c.ExtKeyUsage)
			}
			if c.SerialNumber.Cmp(ca.Cert.SerialNumber) == 0 || c.SerialNumber.Sign() <= 0 {
				t.Errorf("serial %v (CA's %v), want a positive one of its own", c.SerialNumber, ca.Cert.SerialNumber)
			}
			if now := time.Now(); now.Before(c.NotBefore) || now.After(c.NotAfter) || c.NotAfter.Sub(now) > time.Hour {
				t.Errorf("valid from %v to %v, want about an hour either side of now", c.NotBefore, c.NotAfter)
			}
			_, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if err != nil {
				t.Errorf("does not verify against the CA: %v", err)
			}
			if tt.server {
				if err := c.VerifyHostname("127.0.0.1"); err != nil {
					t.Errorf("VerifyHostname(127.0.0.1): %v", err)
				}
			}
		})
	}
	if other := NewCA(t, "other CA"); !bytes.Equal(other.Cert.RawSubject, other.Cert.RawIssuer) ||
		other.Cert.SerialNumber.Cmp(ca.Cert.SerialNumber) == 0 {
		t.Errorf("second CA: issuer %q, serial %v; want self-signed with its own serial", other.Cert.Issuer, other.Cert.SerialNumber)
	}
}

// TestWrite serves the files Write made over a real TLS listener and connects with the client
// certificate of TLSCertificate.
func TestWrite(t *testing.T) {
	ca := NewCA(t, "test CA")
	dir := TempDir(t)
	certFile, keyFile := ca.Issue(t, "server", true).Write(t, dir, "server")
	for _, f := range []string{certFile, keyFile} {
		// Windows has no mode bits: os.Stat shows 0666 or, read-only, 0444.
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 && runtime.GOOS != "windows" {
			t.Fatalf("%s: %v, %v; want mode 0600", f, fi, err)
		}
	}
	serverCert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	peer := make(chan string, 1)
	wg.Go(func() {
		conn, err := ln.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	})
	client := ca.Issue(t, "alice", false).TLSCertificate()
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool,
		Certificates: []tls.Certificate{client}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	if cn := <-peer; cn != "alice" {
		t.Errorf("the server saw the client as %q, want alice", cn)
	}
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("ab"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := b.String(); len(got) != 1600 || got != string(bytes.Repeat([]byte("ab"), 800)) {
		t.Errorf("%d bytes written concurrently, want 1600 of ab", len(got))
	}
}

func TestRawRoundTrip(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Path", r.RequestURI)
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tests := []struct {
		method, wantBody string
	}{
		{http.MethodGet, "hello"},
		{http.MethodHead, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			// A path that net/http's client would clean or escape arrives as written.
			req := tt.method + " /a/../b%2f?q= HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n"
			status, header, body := RawRoundTrip(t, addr, tt.method, req)
			if status != http.StatusOK || header.Get("X-Path") != "/a/../b%2f?q=" || body != tt.wantBody {
				t.Errorf("status %d, X-Path %q, body %q; want 200, the path as sent and %q",
					status, header.Get("X-Path"), body, tt.wantBody)
			}
		})
	}
}

// TestTempDir: the directory is there during the test and gone after it; removeEach, the way
// out under wine, removes a tree.
func TestTempDir(t *testing.T) {
	var dir string
	t.Run("use", func(t *testing.T) {
		dir = TempDir(t)
		WriteFile(t, dir, "f", "x")
	})
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the test: %v, want %s removed", err, dir)
	}
	tree := filepath.Join(TempDir(t), "tree")
	if err := os.MkdirAll(filepath.Join(tree, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, filepath.Join(tree, "a", "b"), "f", "x")
	WriteFile(t, tree, "g", "y")
	if err := removeEach(tree); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tree); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after removeEach: %v, want %s removed", err, tree)
	}
}

// TestTestsUseTempDir: no test in the module uses testing's TempDir, whose cleanup fails
// every test under wine 8.0 (.ci/windows); TempDir is the one that works there.
func TestTestsUseTempDir(t *testing.T) {
	call := ".Temp" + "Dir()" // split, or this file would match
	err := filepath.WalkDir(filepath.Join("..", ".."), func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && strings.HasPrefix(d.Name(), ".") && d.Name() != "." && d.Name() != "..":
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(p, ".go"):
			return nil
		}
		b, err := os.ReadFile(p)
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, call) && !strings.Contains(line, "os"+call) {
				t.Errorf("%s:%d: use testkit.TempDir(t), whose cleanup works under wine too", p, i+1)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
