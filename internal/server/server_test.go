package server

import (
	"context"

	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == helperArg {
		commandHelper(os.Args[2:])
		return
	}
	goleak.VerifyTestMain(m)
}

// harness is a Server in front of an emulator, served in-process until the test ends.
type harness struct {
	em      *emulator.Server
	cfg     *config.Config
	srv     *Server
	keyFile string
	logs    *testkit.SyncBuffer
	cancel  context.CancelFunc
	done    chan error
}

// newHarness builds a server for an emulator; edit changes the config before New. It does
// not start serving: call serve.
func newHarness(t *testing.T, opts Options, edit func(*config.Config)) *harness {
	t.Helper()
	return newHarnessWith(t, emulator.Options{}, opts, func(c *config.Config, _ *emulator.Server) {
		if edit != nil {
			edit(c)
		}
	})
}

// newHarnessWith is newHarness with the emulator's options, and edit also sees the emulator.
func newHarnessWith(t *testing.T, emOpts emulator.Options, opts Options, edit func(*config.Config, *emulator.Server)) *harness {
	t.Helper()
	emOpts.Logger = zerolog.Nop()
	em, err := emulator.Start(emOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	dir := testkit.TempDir(t)
	h := &harness{em: em, logs: &testkit.SyncBuffer{}}
	cfg := config.Defaults()
	cfg.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Upstream.URL = em.URL()
	cfg.Upstream.CAFile = filepath.Join(dir, "ca.pem")
	if err := em.WriteCAFile(cfg.Upstream.CAFile); err != nil {
		t.Fatal(err)
	}
	h.keyFile = testkit.WriteFile(t, dir, "apikey", em.APIKey()+"\n")
	cfg.Auth.APIKeyFile = h.keyFile
	if edit != nil {
		edit(&cfg, em)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h.cfg = &cfg
	opts.Logger = zerolog.New(h.logs)
	if h.srv, err = New(h.cfg, opts); err != nil {
		t.Fatal(err)
	}
	return h
}

// serve listens and serves until stop or the end of the test.
func (h *harness) serve(t *testing.T) {
	t.Helper()
	if err := h.srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.srv.Serve(ctx) }()
	t.Cleanup(func() { h.stop(t) })
}

// stop cancels Serve and returns its result; later calls return the same.
func (h *harness) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return within 30 s of the cancel")
		return nil
	}
}

func (h *harness) url(path string) string   { return "http://" + h.srv.Addr().String() + path }
func (h *harness) admin(path string) string { return "http://" + h.srv.AdminAddr().String() + path }

// get is testkit.Get: GET on a new connection.
var get = testkit.Get

// eventually polls cond every 10 ms until it holds, failing after a generous guard.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) ready(t *testing.T) {
	t.Helper()
	eventually(t, "readyz 200", func() bool { c, _ := get(t, h.admin("/readyz")); return c == 200 })
}

// tokenRequests counts the token exchanges that reached the emulator with key.
func (h *harness) tokenRequests(key string) int {
	n := 0
	for _, r := range h.em.Requests() {
		if r.Path == h.cfg.Auth.TokenPath && r.Header.Get("api_key") == key {
			n++
		}
	}
	return n
}

func TestServeInProcess(t *testing.T) {
	h := newHarness(t, Options{Version: "v9.9.9-test"}, nil)
	h.serve(t)
	h.ready(t)
	if code, body := get(t, h.url("/api/v3/me/services")); code != 200 || !strings.Contains(body, `"services"`) {
		t.Fatalf("GET services = %d %s", code, body)
	}
	if code, body := get(t, h.admin("/metrics")); code != 200 || !strings.Contains(body, `version="v9.9.9-test"`) {
		t.Errorf("metrics = %d, want the version in build_info:\n%.500s", code, body)
	}
	if err := h.stop(t); err != nil {
		t.Errorf("Serve = %v after a clean stop", err)
	}
	if code, _ := get(t, h.url("/api/v3/me/services")); code != -1 {
		t.Errorf("the listener still answers after Serve returned: %d", code)
	}
}

func TestKeyFilePolled(t *testing.T) {
	h := newHarness(t, Options{FilePollInterval: 20 * time.Millisecond}, nil)
	h.serve(t)
	h.ready(t)
	newKey := "server-polled-" + strings.Repeat("p", 31) // 45 characters: a size the watcher sees even within one coarse mtime tick
	h.em.AddAPIKey(newKey, h.em.UserID())
	tmp := h.keyFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, h.keyFile); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a token exchange with the new key, without a signal", func() bool {
		return h.tokenRequests(newKey) > 0
	})
	if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
		t.Fatalf("GET after the key file changed = %d %s", code, body)
	}
}

// TestReloadAndPollerDoNotOverlap: reloads from a signal and from the poller, many at once,
// run one at a time (the race detector sees any overlap of the key store and the token
// source), and a Reload after the stop does nothing.
func TestReloadAndPollerDoNotOverlap(t *testing.T) {
	h := newHarness(t, Options{FilePollInterval: time.Millisecond}, nil)
	h.serve(t)
	h.ready(t)
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := 0; j < 5; j++ {
				h.srv.Reload()
			}
		}()
	}
	for i := 0; i < 4; i++ {
		<-done
	}
	if err := h.stop(t); err != nil {
		t.Fatal(err)
	}
	before := len(h.em.Requests())
	h.srv.Reload()
	if got := len(h.em.Requests()); got != before {
		t.Errorf("Reload after the stop reached the upstream (%d requests, was %d)", got, before)
	}
}

// TestShutdownDelayServesNewConnections: after the stop begins, readiness is 503 at once
// while a new connection is still served, for shutdown_delay.
func TestShutdownDelayServesNewConnections(t *testing.T) {
	h := newHarness(t, Options{}, func(c *config.Config) { c.ShutdownDelay = 5 * time.Second })
	h.serve(t)
	h.ready(t)
	h.cancel()
	eventually(t, "readyz 503 after the stop began", func() bool { c, _ := get(t, h.admin("/readyz")); return c == 503 })
	if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
		t.Errorf("a new connection during shutdown_delay got %d %s, want 200", code, body)
	}
	if err := h.stop(t); err != nil {
		t.Errorf("Serve = %v", err)
	}
}

// TestStopWithHangingTokenEndpointAfterKeyChange: a key change while the token endpoint hangs
// leaves an exchange in flight; the stop must still finish within shutdown_timeout plus a
// small constant.
func TestStopWithHangingTokenEndpointAfterKeyChange(t *testing.T) {
	h := newHarness(t, Options{}, func(c *config.Config) { c.ShutdownTimeout = time.Second })
	h.serve(t)
	h.ready(t)
	h.em.SetFault(h.cfg.Auth.TokenPath, emulator.Fault{Latency: time.Hour})
	newKey := "server-hang-" + strings.Repeat("h", 30)
	h.em.AddAPIKey(newKey, h.em.UserID())
	if err := os.WriteFile(h.keyFile, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.srv.Reload()
	eventually(t, "the exchange with the new key in flight", func() bool { return h.tokenRequests(newKey) > 0 })
	// A second change replaces the exchange in flight with another one.
	newerKey := "server-hang2-" + strings.Repeat("h", 30)
	h.em.AddAPIKey(newerKey, h.em.UserID())
	if err := os.WriteFile(h.keyFile, []byte(newerKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.srv.Reload()
	eventually(t, "the exchange with the newer key in flight", func() bool { return h.tokenRequests(newerKey) > 0 })
	start := time.Now()
	h.cancel()
	select {
	case <-h.done:
		h.done <- nil
	case <-time.After(h.cfg.ShutdownTimeout + 3*time.Second):
		t.Fatalf("Serve still running %v after the stop with an exchange hanging", time.Since(start))
	}
}

// TestWrongNewKeyKeepsTheOldToken: a key file replaced by a key the token endpoint refuses
// does not drop the still-valid token: requests go on with it, and readiness says so.
func TestWrongNewKeyKeepsTheOldToken(t *testing.T) {
	h := newHarness(t, Options{FilePollInterval: 20 * time.Millisecond}, nil)
	h.serve(t)
	h.ready(t)
	wrongKey := "server-wrong-" + strings.Repeat("w", 30)
	tmp := h.keyFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(wrongKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, h.keyFile); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new key refused", func() bool { return h.srv.routes[0].ident.tokens.Status().OldToken })
	if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
		t.Fatalf("GET with the old key's token = %d %s", code, body)
	}
	if ready, why := h.srv.ready(""); !ready || !strings.Contains(why, "previous credential") || !strings.Contains(why, "rejected") {
		t.Errorf("ready = %v, %q; want ready with a warning about the rejected key", ready, why)
	}
	if strings.Contains(h.logs.String(), wrongKey) {
		t.Error("the new key shows up in the log")
	}
}
