package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "token" { // demo -source command runs the test binary as its token command
		os.Exit(runMain(context.Background(), os.Args[1:], system{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeBinaries()
		os.Exit(code)
	}))
}

// proc is dbaas-proxy run in-process through runMain, as main would run it, with signals sent
// on a channel instead of by the kernel.
type proc struct {
	t      *testing.T
	sig    chan os.Signal
	done   chan int
	stdout *testkit.SyncBuffer
	stderr *testkit.SyncBuffer
	exited chan int // the code passed to exit (a forced exit)
}

// start runs `dbaas-proxy args...` until it exits; t's cleanup makes sure it does.
func start(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, sig: make(chan os.Signal, 4), done: make(chan int, 1),
		stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, exited: make(chan int, 1)}
	sys := system{
		stdin: strings.NewReader(""), stdout: p.stdout, stderr: p.stderr,
		getenv: func(k string) string { return env[k] },
		environ: func() []string {
			var kv []string
			for k, v := range env {
				kv = append(kv, k+"="+v)
			}
			return kv
		},
		signals: func() (<-chan os.Signal, func()) { return p.sig, func() {} },
		exit:    func(code int) { p.exited <- code },
	}
	go func() { p.done <- runMain(context.Background(), args, sys) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.sig <- syscall.SIGTERM
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Error("dbaas-proxy did not stop within 10 s of SIGTERM")
			}
		}
	})
	return p
}

// wait returns the exit code, failing the test after timeout.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case code := <-p.done:
		p.done <- code // keep it for cleanup
		return code
	case <-time.After(timeout):
		p.t.Fatalf("dbaas-proxy still running after %v; stderr:\n%s", timeout, p.stderr)
		return -1
	}
}

// env is an emulator and a config file for dbaas-proxy in front of it.
type env struct {
	em         *emulator.Server
	dir        string
	config     string
	listen     string
	admin      string
	keyFile    string
	caFile     string
	extraLines string
}

func newEnv(t *testing.T, extra string) *env {
	t.Helper()
	em, err := emulator.Start(emulator.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	e := &env{em: em, dir: testkit.TempDir(t), listen: freeAddr(t), admin: freeAddr(t), extraLines: extra}
	e.caFile = filepath.Join(e.dir, "ca.pem")
	if err := em.WriteCAFile(e.caFile); err != nil {
		t.Fatal(err)
	}
	e.keyFile = testkit.WriteFile(t, e.dir, "apikey.json",
		fmt.Sprintf(`{"name":"test","description":"","createdAt":"2026-11-27T00:00+0000","apiKey":%q}`, em.APIKey()))
	e.config = testkit.WriteFile(t, e.dir, "config.yaml", fmt.Sprintf(
		"listen: %s\nshutdown_timeout: 5s\nupstream:\n  url: %s\n  ca_file: %s\nauth:\n  api_key_file: %s\nlog:\n  level: debug\n  format: json\nadmin:\n  listen: %s\n%s",
		e.listen, em.URL(), e.caFile, e.keyFile, e.admin, extra))
	return e
}

// freeAddr returns a loopback address that is free now, for a listener the code under test opens
// itself. It is released before use, so it is drawn at random from below the ephemeral port ranges
// (Linux 32768-60999, Windows and macOS 49152-65535): a port 0 listener or an outbound connection in
// a test package running in parallel cannot take it in between, as it could a port from ":0".
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20001+rand.IntN(11999)))
		if err == nil {
			defer l.Close()
			return l.Addr().String()
		}
	}
	t.Fatal("no free port in 20001-31999 after 100 tries")
	return ""
}

// get is testkit.Get: GET on a new connection.
var get = testkit.Get

// eventually polls cond every 20 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) ready(t *testing.T) {
	t.Helper()
	eventually(t, 10*time.Second, "readyz 200", func() bool {
		code, _ := get(t, "http://"+e.admin+"/readyz")
		return code == http.StatusOK
	})
}

func TestServeEndToEnd(t *testing.T) {
	e := newEnv(t, "")
	p := start(t, nil, "-config", e.config)
	e.ready(t)
	code, body := get(t, "http://"+e.listen+"/api/v3/me/services")
	if code != http.StatusOK || !strings.Contains(body, `"services"`) {
		t.Fatalf("GET services = %d %s", code, body)
	}
	p.sig <- syscall.SIGTERM
	if c := p.wait(10 * time.Second); c != exitOK {
		t.Errorf("exit code %d after SIGTERM, want 0; stderr:\n%s", c, p.stderr)
	}
	logs := p.stderr.String()
	mustContainAll(t, logs, `"message":"request"`, `"path":"/api/v3/me/services"`, `"status":200`)
	if strings.Contains(logs, e.em.APIKey()) {
		t.Error("the API key is in the logs")
	}
}

func mustContainAll(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("output does not contain %q:\n%s", sub, s)
		}
	}
}

func TestCommandErrors(t *testing.T) {
	e := newEnv(t, "")
	badCA := testkit.WriteFile(t, e.dir, "bad.yaml", strings.Replace(mustRead(t, e.config), e.caFile, filepath.Join(e.dir, "missing-ca.pem"), 1))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no config", []string{}, exitUsage, "upstream.url: not set"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command (argument 1, 10 characters)`},
		{"stray argument", []string{"-config", e.config, "my-api-key"}, exitUsage, "never an argument"},
		{"missing CA file", []string{"-config", badCA}, exitUsage, filepath.Join(e.dir, "missing-ca.pem")},
		{"validate a bad file", []string{"validate", "-config", badCA + ".none"}, exitUsage, "cannot read"},
		{"validate names a missing CA file", []string{"validate", "-config", badCA}, exitUsage, filepath.Join(e.dir, "missing-ca.pem")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, nil, tt.args...)
			if c := p.wait(10 * time.Second); c != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", c, tt.code, p.stderr)
			}
			if !strings.Contains(p.stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", p.stderr, tt.want)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidateAndVersion(t *testing.T) {
	e := newEnv(t, "")
	p := start(t, nil, "validate", "-config", e.config)
	if c := p.wait(5 * time.Second); c != exitOK || !strings.Contains(p.stdout.String(), "ok") {
		t.Errorf("validate = %d, stdout %q stderr %q", c, p.stdout, p.stderr)
	}
	p = start(t, nil, "version")
	if c := p.wait(5 * time.Second); c != exitOK || !strings.HasPrefix(p.stdout.String(), "dbaas-proxy ") {
		t.Errorf("version = %d, %q", c, p.stdout)
	}
}

func TestAPIKeyFromEnvironment(t *testing.T) {
	e := newEnv(t, "")
	cfg := strings.Replace(mustRead(t, e.config), "  api_key_file: "+e.keyFile+"\n", "", 1)
	path := testkit.WriteFile(t, e.dir, "env.yaml", cfg)
	p := start(t, map[string]string{server.APIKeyEnv: e.em.APIKey()}, "-config", path)
	e.ready(t)
	if code, body := get(t, "http://"+e.listen+"/api/v3/me/services"); code != http.StatusOK {
		t.Fatalf("GET = %d %s", code, body)
	}
	mustContainAll(t, p.stderr.String(), "environment variable DBAAS_API_KEY")
}

func TestUnixSocketIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix: listeners are refused on Windows, where umask and chmod cannot make a socket owner-only (TestUnixListenRefusedOnWindows)")
	}
	e := newEnv(t, "")
	sock := filepath.Join(e.dir, "proxy.sock")
	p := start(t, nil, "-config", e.config, "-listen", "unix:"+sock)
	e.ready(t)
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatalf("socket: %v; stderr %s", err, p.stderr)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", st.Mode().Perm())
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://localhost/api/v3/me/services")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET over the socket = %d", resp.StatusCode)
	}
}
