//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFilesThatBlockOnOpen: a FIFO at the config, the key or the CA path makes validate fail at
// once with a message naming the key and the FIFO, instead of hanging (nobody writes to the
// FIFO, so an open for reading would block forever). FIFOs are Unix-only.
func TestFilesThatBlockOnOpen(t *testing.T) {
	e := newEnv(t, "")
	fifo := filepath.Join(e.dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustRead(t, e.config)
	cases := []struct{ name, config, key string }{
		{"config", fifo, "-config"},
		{"key", strings.Replace(cfg, e.keyFile, fifo, 1), "auth.api_key_file"},
		{"ca", strings.Replace(cfg, e.caFile, fifo, 1), "upstream.ca_file"},
		{"log", strings.Replace(cfg, "log:\n", "log:\n  file: "+fifo+"\n", 1), "log.file"},
	}
	for _, c := range cases {
		path := c.config
		if c.name != "config" {
			path = filepath.Join(e.dir, c.name+".yaml")
			opsWrite(t, path, c.config)
		}
		args := []string{"validate", "-config", path}
		if c.name == "log" {
			args = []string{"-config", path}
		}
		code, _, stderr := runBin(t, nil, "", args...)
		if code == 0 || !strings.Contains(stderr, c.key) || !strings.Contains(stderr, "FIFO") {
			t.Errorf("%s: exit %d, stderr %q; want an error naming %s and the FIFO", c.name, code, stderr, c.key)
		}
	}
}
