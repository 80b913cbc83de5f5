package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestNotDumpable: serve's notDumpable leaves the process not dumpable (no core, no ptrace by
// the same user).
func TestNotDumpable(t *testing.T) {
	if err := notDumpable(); err != nil {
		t.Fatal(err)
	}
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 0 {
		t.Errorf("PR_GET_DUMPABLE = %d, %v; want 0", d, err)
	}
}
