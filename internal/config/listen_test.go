package config

import (
	"runtime"
	"strings"
	"testing"
)

// TestUnixListenRefusedOnWindows: a unix: listen address is an error on Windows, where the
// socket could not be made owner-only; elsewhere an absolute path is accepted and a relative
// one is not.
func TestUnixListenRefusedOnWindows(t *testing.T) {
	abs := "unix:/run/dbaas-proxy/proxy.sock"
	if runtime.GOOS == "windows" {
		abs = `unix:C:\ProgramData\dbaas-proxy\proxy.sock`
	}
	err := checkListen(abs, false)
	switch {
	case runtime.GOOS == "windows" && (err == nil || !strings.Contains(err.Error(), "not supported on Windows")):
		t.Errorf("checkListen(%q) on Windows = %v, want the refusal", abs, err)
	case runtime.GOOS != "windows" && err != nil:
		t.Errorf("checkListen(%q) = %v, want it accepted", abs, err)
	}
	if err := checkListen("unix:relative.sock", false); err == nil {
		t.Error("a relative socket path was accepted")
	}
}
