package sdnotify

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// listen opens a unixgram socket at addr and returns a func reading one datagram.
func listen(t *testing.T, addr string) func() string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on %q: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return func() string {
		t.Helper()
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read the datagram: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotify(t *testing.T) {
	abstract := "@dbaas-proxy-sdnotify-test-" + randomHex(t)
	tests := []struct {
		name  string
		addr  string
		state string
	}{
		{"path", filepath.Join(testkit.TempDir(t), "notify.sock"), "READY=1"},
		{"abstract", abstract, "STOPPING=1"},
		{"several lines", filepath.Join(testkit.TempDir(t), "n.sock"), "READY=1\nSTATUS=serving on 127.0.0.1:20000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasPrefix(tt.addr, "@") && runtime.GOOS != "linux" {
				t.Skip("abstract sockets exist on Linux only")
			}
			skipWithoutUnixgram(t)
			read := listen(t, tt.addr)
			t.Setenv("NOTIFY_SOCKET", tt.addr)
			if err := Notify(tt.state); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if got := read(); got != tt.state {
				t.Fatalf("datagram %q, want %q", got, tt.state)
			}
		})
	}
}

func TestNotifyUnset(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Notify("READY=1"); err != nil {
		t.Fatalf("Notify without NOTIFY_SOCKET: %v", err)
	}
	if err := Reloading(); err != nil {
		t.Fatalf("Reloading without NOTIFY_SOCKET: %v", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	tests := []struct {
		name, addr, want string
	}{
		{"nobody listens", filepath.Join(testkit.TempDir(t), "missing.sock"), "sdnotify: connect to NOTIFY_SOCKET"},
		{"unsupported address", "vsock:2:1234", "sdnotify: NOTIFY_SOCKET \"vsock:2:1234\" is neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.HasPrefix(tt.addr, "vsock:") {
				skipWithoutUnixgram(t)
			}
			t.Setenv("NOTIFY_SOCKET", tt.addr)
			err := Notify("READY=1")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Notify: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestReloading(t *testing.T) {
	skipWithoutUnixgram(t)
	addr := filepath.Join(testkit.TempDir(t), "notify.sock")
	read := listen(t, addr)
	t.Setenv("NOTIFY_SOCKET", addr)
	if err := Reloading(); err != nil {
		t.Fatalf("Reloading: %v", err)
	}
	want := `^RELOADING=1$`
	if runtime.GOOS == "linux" {
		want = `^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$`
	}
	if got := read(); !regexp.MustCompile(want).MatchString(got) {
		t.Fatalf("datagram %q does not match %s", got, want)
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// skipWithoutUnixgram skips on Windows: the notify socket is a Unix datagram socket, and
// Windows' AF_UNIX has stream sockets only (and no systemd to notify).
func skipWithoutUnixgram(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix datagram sockets (its AF_UNIX is stream only), and no systemd")
	}
}
