package server

import (
	"os"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// TestCAFileChangeNoticedWithoutSignal: a CA file replaced in place (a ConfigMap update, or a
// Windows machine with no SIGHUP) is used without a signal.
func TestCAFileChangeNoticedWithoutSignal(t *testing.T) {
	dir := testkit.TempDir(t)
	wrongCA, _ := testkit.NewCA(t, "not the emulator's CA").Write(t, dir, "wrong")
	var caFile string
	h := newHarness(t, Options{FilePollInterval: 10 * time.Millisecond}, func(c *config.Config) {
		caFile = c.Upstream.CAFile
		data, err := os.ReadFile(wrongCA)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	h.serve(t)
	if code, body := get(t, h.url("/api/v3/me/services")); code != 502 {
		t.Fatalf("GET with the wrong CA = %d %s, want 502", code, body)
	}
	if err := h.em.WriteCAFile(caFile + ".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(caFile+".new", caFile); err != nil {
		t.Fatal(err)
	}
	h.ready(t)
	if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
		t.Fatalf("GET after the CA file changed = %d %s", code, body)
	}
}

func TestFileWatcher(t *testing.T) {
	dir := testkit.TempDir(t)
	a := testkit.WriteFile(t, dir, "a", "one")
	w := newFileWatcher(a, "", a, dir+"/missing")
	if len(w) != 2 {
		t.Fatalf("paths = %v, want a and missing once each", w)
	}
	if w.changed() {
		t.Error("changed with nothing changed")
	}
	testkit.WriteFile(t, dir, "a", "one more") // a new size
	if !w.changed() {
		t.Error("a new size was not noticed")
	}
	if w.changed() {
		t.Error("the same change was reported twice")
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(a, old, old); err != nil {
		t.Fatal(err)
	}
	if !w.changed() {
		t.Error("a new modification time was not noticed")
	}
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if w.changed() {
		t.Error("a file being replaced (missing for now) counted as a change")
	}
	testkit.WriteFile(t, dir, "missing", "here now")
	if !w.changed() {
		t.Error("a file that appeared was not noticed")
	}
}
