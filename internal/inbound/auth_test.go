package inbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

const (
	aliceToken  = "alice-token-0123456789abcdef"
	readerToken = "reader-token-0123456789abcdef"
	narrowToken = "narrow-token-0123456789abcdef"
)

func bearerConfig() Config {
	return Config{Clients: []Client{
		{Name: "alice", TokenSHA256: HashToken(aliceToken)},
		{Name: "reader", TokenSHA256: strings.ToUpper(HashToken(readerToken)), ReadOnly: true},
		{Name: "narrow", TokenSHA256: HashToken(narrowToken), AllowPaths: []string{"^/api/v3/[^/]+/clusters/"}},
	}}
}

func TestBearer(t *testing.T) {
	f := newFixture(t, bearerConfig(), "10.0.0.5:20000")
	tests := []struct {
		name       string
		method     string
		path       string
		headers    []string
		wantStatus int
		wantReason string
		wantClient string
	}{
		{"good token", "POST", "", []string{"Authorization: Bearer " + aliceToken}, 200, "", "alice"},
		{"good token, any Host in gateway mode", "GET", "", []string{"Authorization: bearer " + aliceToken}, 200, "", "alice"},
		{"wrong token", "GET", "", []string{"Authorization: Bearer " + aliceToken + "x"}, 401, "auth", ""},
		{"missing token", "GET", "", nil, 401, "auth", ""},
		{"empty token", "GET", "", []string{"Authorization: Bearer "}, 401, "auth", ""},
		{"basic scheme", "GET", "", []string{"Authorization: Basic YWxpY2U6eA=="}, 401, "auth", ""},
		{"two tokens", "GET", "", []string{"Authorization: Bearer " + aliceToken, "Authorization: Bearer " + readerToken}, 401, "auth", ""},
		{"hash as token", "GET", "", []string{"Authorization: Bearer " + HashToken(aliceToken)}, 401, "auth", ""},
		{"read-only GET", "GET", "", []string{"Authorization: Bearer " + readerToken}, 200, "", "reader"},
		{"read-only HEAD", "HEAD", "", []string{"Authorization: Bearer " + readerToken}, 200, "", "reader"},
		{"read-only OPTIONS", "OPTIONS", "", []string{"Authorization: Bearer " + readerToken}, 403, "read_only", ""},
		{"read-only PATCH", "PATCH", "", []string{"Authorization: Bearer " + readerToken}, 403, "read_only", ""},
		{"read-only POST", "POST", "", []string{"Authorization: Bearer " + readerToken}, 403, "read_only", ""},
		{"read-only DELETE", "DELETE", "", []string{"Authorization: Bearer " + readerToken}, 403, "read_only", ""},
		{"client allow_paths inside", "GET", "/api/v3/0123/clusters/c1", []string{"Authorization: Bearer " + narrowToken}, 200, "", "narrow"},
		{"client allow_paths outside", "GET", "/api/v3/0123/services", []string{"Authorization: Bearer " + narrowToken}, 403, "path", ""},
		{"traversal after auth", "GET", "/api/v3/0123/clusters/%2e%2e/services", []string{"Authorization: Bearer " + narrowToken}, 400, "encoding", ""},
	}
	var unauthorized []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.be.count()
			got := f.send(t, req{method: tt.method, path: tt.path, host: "proxy.example:%p", headers: tt.headers})
			check(t, f, got, tt.wantStatus, tt.wantReason, before)
			if tt.wantStatus == 401 {
				if h := got.header.Get("WWW-Authenticate"); h != `Bearer realm="dbaas-proxy"` {
					t.Errorf("WWW-Authenticate = %q", h)
				}
				unauthorized = append(unauthorized, got.body)
			}
			if tt.wantReason != "" {
				return
			}
			f.be.mu.Lock()
			defer f.be.mu.Unlock()
			if len(f.be.authz) != 0 {
				t.Errorf("backend got Authorization %q", f.be.authz)
			}
			if f.be.client != tt.wantClient {
				t.Errorf("ClientName = %q, want %q", f.be.client, tt.wantClient)
			}
		})
	}
	for _, b := range unauthorized[1:] {
		if b != unauthorized[0] {
			t.Errorf("401 bodies differ: %q and %q", unauthorized[0], b)
		}
	}
	if strings.Contains(strings.Join(unauthorized, ""), "alice") {
		t.Errorf("401 body names a client: %q", unauthorized[0])
	}
}

func TestClientNameWithoutAuth(t *testing.T) {
	f := newFixture(t, Config{}, "127.0.0.1:20000")
	check(t, f, f.send(t, req{headers: []string{"Authorization: Bearer x"}}), 200, "", 0)
	f.be.mu.Lock()
	defer f.be.mu.Unlock()
	if f.be.client != "" {
		t.Errorf("ClientName = %q, want empty", f.be.client)
	}
}

// pkiFiles is a CA, a server certificate and client certificates written under a temp dir.
type pkiFiles struct {
	dir, caFile, certFile, keyFile string
	ca, otherCA                    *testkit.KeyPair
	roots                          *x509.CertPool
}

func newPKI(t *testing.T) *pkiFiles {
	t.Helper()
	p := &pkiFiles{dir: testkit.TempDir(t), ca: testkit.NewCA(t, "test CA"), otherCA: testkit.NewCA(t, "other CA")}
	p.certFile, p.keyFile = p.ca.Issue(t, "server-1", true).Write(t, p.dir, "server")
	p.caFile = filepath.Join(p.dir, "ca.crt")
	writeFile(t, p.caFile, p.ca.CertPEM)
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.ca.Cert)
	return p
}

func (p *pkiFiles) tlsConfig() TLSConfig {
	return TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile}
}

// serveTLS runs g in front of be on a real TLS listener and returns its address.
func serveTLS(t *testing.T, g *Guard, be http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Wrap(be), TLSConfig: g.TLSConfig(), ErrorLog: log.New(io.Discard, "", 0),
		ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return ln.Addr().String()
}

// tlsGet makes one GET over a new connection and returns the status and the server's CN.
func tlsGet(t *testing.T, addr string, roots *x509.CertPool, cert *testkit.KeyPair, headers ...string) (int, string, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLSCertificate()}
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/api/v3/0123/services", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	resp, err := tr.RoundTrip(r)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.TLS.PeerCertificates[0].Subject.CommonName, nil
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	alice := p.ca.Issue(t, "alice", false)
	bob := p.ca.Issue(t, "bob", false)
	forged := p.otherCA.Issue(t, "alice", false)
	tests := []struct {
		name       string
		clients    []Client
		cert       *testkit.KeyPair
		headers    []string
		wantErr    bool // the handshake fails
		wantStatus int
		wantClient string
	}{
		{"known CN", []Client{{Name: "alice-laptop", CertCN: "alice"}}, alice, nil, false, 200, "alice-laptop"},
		{"unknown CN", []Client{{Name: "alice-laptop", CertCN: "alice"}}, bob, nil, false, 401, ""},
		{"any CN without cert_cn clients", nil, bob, nil, false, 200, "bob"},
		{"missing certificate", nil, nil, nil, true, 0, ""},
		{"certificate of another CA", []Client{{Name: "alice-laptop", CertCN: "alice"}}, forged, nil, true, 0, ""},
		{"token beside a certificate", []Client{{Name: "alice-laptop", CertCN: "alice"}, {Name: "ci", TokenSHA256: HashToken(aliceToken)}},
			bob, []string{"Authorization", "Bearer " + aliceToken}, false, 200, "ci"},
		{"two tokens beside a good certificate", []Client{{Name: "alice-laptop", CertCN: "alice"}, {Name: "ci", TokenSHA256: HashToken(aliceToken)}},
			alice, []string{"Authorization", "Bearer " + aliceToken, "Authorization", "Bearer " + aliceToken}, false, 401, ""},
		{"two headers beside a good certificate", []Client{{Name: "alice-laptop", CertCN: "alice"}},
			alice, []string{"Authorization", "Bearer x", "Authorization", "Basic eA=="}, false, 401, ""},
		{"wrong token beside a good certificate", []Client{{Name: "alice-laptop", CertCN: "alice"}, {Name: "ci", TokenSHA256: HashToken(aliceToken)}},
			alice, []string{"Authorization", "Bearer nope"}, false, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{}
			g, err := New(Config{TLS: p.tlsConfig(), Clients: tt.clients}, Options{Listen: "0.0.0.0:20000", Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			addr := serveTLS(t, g, be)
			status, _, err := tlsGet(t, addr, p.roots, tt.cert, tt.headers...)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("request succeeded with status %d, want a handshake failure", status)
				}
				if be.count() != 0 {
					t.Error("backend ran")
				}
				return
			}
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d", status, tt.wantStatus)
			}
			if tt.wantStatus == 200 && (be.client != tt.wantClient || len(be.authz) != 0) {
				t.Errorf("backend saw client %q, Authorization %q; want %q and none", be.client, be.authz, tt.wantClient)
			}
		})
	}
}

func TestReload(t *testing.T) {
	p := newPKI(t)
	g, err := New(Config{TLS: TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile}}, Options{Listen: "127.0.0.1:20000"})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, g, &backend{})
	// A kept-alive connection opened before the reload must survive it.
	kept := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}}
	t.Cleanup(kept.CloseIdleConnections)
	keptGet := func() (cn string, reused bool) {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/", nil)
		resp, err := kept.RoundTrip(r)
		if err != nil {
			t.Fatalf("kept connection: %v", err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.TLS.PeerCertificates[0].Subject.CommonName, reused
	}
	if cn, _ := keptGet(); cn != "server-1" {
		t.Fatalf("first certificate CN = %q", cn)
	}

	p.ca.Issue(t, "server-2", true).Write(t, p.dir, "server")
	if err := g.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if _, cn, err := tlsGet(t, addr, p.roots, nil); err != nil || cn != "server-2" {
		t.Fatalf("after reload: CN %q, error %v; want server-2", cn, err)
	}
	if cn, reused := keptGet(); cn != "server-1" || !reused {
		t.Errorf("kept connection: CN %q, reused %v; want server-1 on the same connection", cn, reused)
	}

	writeFile(t, p.certFile, []byte("not a certificate"))
	err = g.Reload()
	if err == nil || !strings.Contains(err.Error(), strconv.Quote(p.certFile)) {
		t.Fatalf("Reload of a broken file = %v, want an error naming %s", err, p.certFile)
	}
	if _, cn, err := tlsGet(t, addr, p.roots, nil); err != nil || cn != "server-2" {
		t.Errorf("after failed reload: CN %q, error %v; want server-2 kept", cn, err)
	}
}

func TestReloadClientCA(t *testing.T) {
	p := newPKI(t)
	g, err := New(Config{TLS: p.tlsConfig()}, Options{Listen: "0.0.0.0:20000"})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, g, &backend{})
	other := p.otherCA.Issue(t, "carol", false)
	if _, _, err := tlsGet(t, addr, p.roots, other); err == nil {
		t.Fatal("certificate of the other CA accepted before reload")
	}
	writeFile(t, p.caFile, p.otherCA.CertPEM)
	if err := g.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if status, _, err := tlsGet(t, addr, p.roots, other); err != nil || status != 200 {
		t.Errorf("after reload: status %d, error %v; want 200", status, err)
	}
	writeFile(t, p.caFile, []byte("no pem here"))
	if err := g.Reload(); err == nil || !strings.Contains(err.Error(), strconv.Quote(p.caFile)) {
		t.Errorf("Reload of a CA file without PEM = %v, want an error naming %s", err, p.caFile)
	}
	if err := os.Remove(p.caFile); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p.caFile) {
		t.Errorf("Reload of a missing CA file = %v, want ErrNotExist naming %s", err, p.caFile)
	}
	if status, _, err := tlsGet(t, addr, p.roots, other); err != nil || status != 200 {
		t.Errorf("after failed reloads: status %d, error %v; want the reloaded CA kept", status, err)
	}
}

func TestNewErrors(t *testing.T) {
	p := newPKI(t)
	missing := filepath.Join(p.dir, "missing.crt")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"invalid config", Config{DenyMethods: []string{"GET /"}}, "inbound: invalid configuration: inbound.deny_methods[0]"},
		{"missing certificate", Config{TLS: TLSConfig{CertFile: missing, KeyFile: p.keyFile}}, missing},
		{"missing client CA", Config{TLS: TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: missing}}, missing},
		{"key of another certificate", Config{TLS: TLSConfig{CertFile: p.certFile, KeyFile: filepath.Join(p.dir, "other.key")}}, "other.key"},
	}
	writeFile(t, filepath.Join(p.dir, "other.key"), p.otherCA.KeyPEM)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, Options{Listen: "127.0.0.1:20000"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	g, err := New(Config{AllowUnauthenticatedRemote: true, MaxHeaderBytes: 1000}, Options{Listen: "10.0.0.5:1"})
	if err != nil {
		t.Fatal(err)
	}
	if g.TLSConfig() != nil || g.limits.MaxHeaderBytes != 1000 || len(g.Warnings()) != 2 {
		t.Errorf("TLSConfig %v, MaxHeaderBytes %d, Warnings %q", g.TLSConfig(), g.limits.MaxHeaderBytes, g.Warnings())
	}
	g, err = New(Config{}, Options{Listen: "unix:/run/p.sock"})
	if err != nil {
		t.Fatal(err)
	}
	if g.limits.MaxHeaderBytes != DefaultMaxHeaderBytes || g.Reload() != nil || len(g.Warnings()) != 0 {
		t.Errorf("MaxHeaderBytes %d, Warnings %q", g.limits.MaxHeaderBytes, g.Warnings())
	}
}
