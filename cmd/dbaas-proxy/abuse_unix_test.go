//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
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

// TestBinarySIGTERMNotQueuedBehindReloads: with an api_key_command that hangs on every call
// after the first, six SIGHUPs (more than the signal channel holds) and then SIGTERM: the
// process exits without waiting for the hung command (killed only after its 10 s timeout).
func TestBinarySIGTERMNotQueuedBehindReloads(t *testing.T) {
	e := newEnv(t, "")
	marker := filepath.Join(e.dir, "called")
	script := testkit.WriteFile(t, e.dir, "key.sh", fmt.Sprintf(
		"#!/bin/sh\nif [ -e %s ]; then exec sleep 3600; fi\ntouch %s\necho %s\n", marker, marker, e.em.APIKey()))
	if err := os.Chmod(script, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(mustRead(t, e.config), "api_key_file: "+e.keyFile, "api_key_command: ["+script+"]", 1)
	testkit.WriteFile(t, e.dir, "config.yaml", cfg)
	r := run(t, "-config", e.config)
	e.ready(t)
	for range 6 {
		r.signal(t, syscall.SIGHUP)
	}
	eventually(t, 5*time.Second, "the reload starts", func() bool {
		return strings.Contains(r.stderr.String(), "reloading the API key")
	})
	r.signal(t, syscall.SIGTERM)
	if code := r.exit(t, 6*time.Second); code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, r.stderr)
	}
	if n := strings.Count(r.stderr.String(), "reloading the API key"); n > 2 {
		t.Errorf("%d reloads for 6 SIGHUPs during one: they should coalesce", n)
	}
}
