package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes content to name under dir with mode 0600 and returns its path; it fails
// the test on an error.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
