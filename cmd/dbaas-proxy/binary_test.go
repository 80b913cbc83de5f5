package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// running is the built binary running as a child process.
type running struct {
	cmd    *exec.Cmd
	stderr *testkit.SyncBuffer
	done   chan error
}

// run starts the binary with args; the test's cleanup kills it if it is still running.
func run(t *testing.T, args ...string) *running {
	t.Helper()
	return runEnv(t, nil, args...)
}

// runEnv is run with env added to baseEnv.
func runEnv(t *testing.T, env []string, args ...string) *running {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("these send SIGHUP and SIGTERM, which Windows does not have (Ctrl-C's drain is checked by .ci/windows's demo step; the service's Stop by compiling)")
	}
	r := &running{cmd: exec.Command(binary(t), args...), stderr: &testkit.SyncBuffer{}, done: make(chan error, 1)}
	r.cmd.Stderr = r.stderr
	r.cmd.Env = append(baseEnv(), env...)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-r.done:
			r.done <- err
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// exit waits up to limit for the process to exit and returns its exit code.
func (r *running) exit(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return r.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		t.Fatalf("still running %v after the signal; stderr:\n%s", limit, r.stderr)
		return -1
	}
}

func (r *running) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// TestBinarySIGTERMWithHangingTokenEndpointAfterKeyChange: two key changes while the token
// endpoint hangs leave exchanges in flight; SIGTERM still exits within shutdown_timeout + 3 s.
func TestBinarySIGTERMWithHangingTokenEndpointAfterKeyChange(t *testing.T) {
	e := newEnv(t, "")
	cfg := strings.Replace(mustRead(t, e.config), "shutdown_timeout: 5s", "shutdown_timeout: 2s", 1)
	testkit.WriteFile(t, e.dir, "config.yaml", cfg)
	r := run(t, "-config", e.config)
	e.ready(t)
	e.em.SetFault(opsTokenPath, emulator.Fault{Latency: time.Hour})
	for i, k := range []string{"bin-hang-one-", "bin-hang-two-"} {
		key := k + strings.Repeat("k", 30)
		e.em.AddAPIKey(key, e.em.UserID())
		opsWrite(t, e.keyFile, key+"\n")
		r.signal(t, syscall.SIGHUP)
		eventually(t, 10*time.Second, fmt.Sprintf("exchange %d with the new key in flight", i+1), func() bool {
			return opsTokenRequests(e.em, key) > 0
		})
	}
	r.signal(t, syscall.SIGTERM)
	if code := r.exit(t, 2*time.Second+3*time.Second); code != exitOK {
		t.Errorf("exit code %d, want 0; stderr:\n%s", code, r.stderr)
	}
}

// TestBinaryShutdownDelayServesNewConnections: after SIGTERM readiness is 503 at once and a
// new connection is still served during shutdown_delay; then the process exits 0.
func TestBinaryShutdownDelayServesNewConnections(t *testing.T) {
	e := newEnv(t, "shutdown_delay: 4s\n")
	r := run(t, "-config", e.config)
	e.ready(t)
	r.signal(t, syscall.SIGTERM)
	eventually(t, 10*time.Second, "readyz 503 after SIGTERM", func() bool {
		code, _ := get(t, "http://"+e.admin+"/readyz")
		return code == 503
	})
	if code, body := get(t, "http://"+e.listen+"/api/v3/me/services"); code != 200 {
		t.Errorf("a new connection during shutdown_delay got %d %s, want 200", code, body)
	}
	if code := r.exit(t, 4*time.Second+5*time.Second+3*time.Second); code != exitOK {
		t.Errorf("exit code %d, want 0; stderr:\n%s", code, r.stderr)
	}
}

// TestBinarySecondSignalExitsAtOnce: a second SIGTERM during the drain (here: during
// shutdown_delay) exits at once with 128+15.
func TestBinarySecondSignalExitsAtOnce(t *testing.T) {
	e := newEnv(t, "shutdown_delay: 60s\n")
	r := run(t, "-config", e.config)
	e.ready(t)
	r.signal(t, syscall.SIGTERM)
	eventually(t, 10*time.Second, "readyz 503 after SIGTERM", func() bool {
		code, _ := get(t, "http://"+e.admin+"/readyz")
		return code == 503
	})
	r.signal(t, syscall.SIGTERM)
	if code := r.exit(t, 10*time.Second); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code %d, want %d; stderr:\n%s", code, 128+int(syscall.SIGTERM), r.stderr)
	}
}
