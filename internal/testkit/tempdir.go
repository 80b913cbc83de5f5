package testkit

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TempDir is t.TempDir for tests that also run under wine (.ci/windows): a new directory,
// removed when the test ends. Under wine 8.0, os.RemoveAll fails with "Invalid function."
// (wine answers FileDispositionInformationEx, which Go 1.26 deletes with, with a status Go does
// not fall back on); on exactly that error, under wine only, the files are removed one by one
// with os.Remove instead. Every other cleanup error fails the test, as t.TempDir's does.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dbaas-proxy-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := os.RemoveAll(dir)
		if err != nil && wineCleanupError(err) {
			err = removeEach(dir)
		}
		if err != nil {
			t.Errorf("TempDir cleanup: %v", err)
		}
	})
	return dir
}

// removeEach removes dir's tree with os.Remove, deepest entries first.
func removeEach(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range slices.Backward(paths) {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// SkipUnderWine skips t when it runs under wine (.ci/windows) and says why: bug, a bug of
// wine 8.0 that fails the test there. On Windows itself, and elsewhere, the test runs.
func SkipUnderWine(t testing.TB, bug string) {
	t.Helper()
	if underWine() {
		t.Skip("wine 8.0: " + bug + "; this runs on Windows itself")
	}
}
