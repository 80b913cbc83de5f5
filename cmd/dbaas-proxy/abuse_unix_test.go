//go:build unix

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
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

// TestBinarySIGHUPReloadsClientLists: a token removed from inbound.clients and SIGHUP: the
// removed token gets 401 on its next request, on a kept-alive connection too; the kept token
// still works. (admin.clients goes the same way: TestBearerSet.)
func TestBinarySIGHUPReloadsClientLists(t *testing.T) {
	const keep, drop = "keep-token-0123456789abcdef", "drop-token-0123456789abcdef"
	clients := func(tokens ...string) string {
		s := ""
		for _, tok := range tokens {
			s += fmt.Sprintf("    - {name: %s, token_sha256: %s}\n", tok[:4], inbound.HashToken(tok))
		}
		return s
	}
	e := newEnv(t, "inbound:\n  clients:\n"+clients(keep, drop))
	cfg := mustRead(t, e.config)
	r := run(t, "-config", e.config)
	e.ready(t)
	conn, err := net.Dial("tcp", e.listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	send := func(token string) int {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET /api/v3/me/services HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", e.listen, token)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("kept-alive connection: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(drop); code != 200 {
		t.Fatalf("before the reload the token got %d", code)
	}
	opsWrite(t, e.config, strings.Replace(cfg, clients(keep, drop), clients(keep), 1))
	r.signal(t, syscall.SIGHUP)
	eventually(t, 10*time.Second, "the removed token refused on a new connection", func() bool {
		req, _ := http.NewRequest("GET", "http://"+e.listen+"/api/v3/me/services", nil)
		req.Header.Set("Authorization", "Bearer "+drop)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 401
	})
	if code := send(drop); code != 401 {
		t.Errorf("the removed token got %d on a kept-alive connection, want 401", code)
	}
	if code := send(keep); code != 200 {
		t.Errorf("the kept token got %d, want 200", code)
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestBinaryAdminLogAmplification: 20 requests with a 1 MB Host and 20 with a 4 KB one to the
// admin listener write only a small log: the admin server's header limit refuses the first
// without a line, and the refusal lines of the others are capped and sampled.
func TestBinaryAdminLogAmplification(t *testing.T) {
	e := newEnv(t, "")
	r := run(t, "-config", e.config)
	e.ready(t)
	before := len(r.stderr.String())
	for i := range 40 {
		host := strings.Repeat("h", 1<<20)
		if i%2 == 1 {
			host = strings.Repeat("h", 4<<10)
		}
		conn, err := net.Dial("tcp", e.admin)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		}()
		_, _ = io.Copy(io.Discard, conn)
		conn.Close()
	}
	r.signal(t, syscall.SIGTERM)
	r.exit(t, 10*time.Second)
	if n := len(r.stderr.String()) - before; n > 16<<10 {
		t.Errorf("40 refused requests wrote %d bytes of log, want under 16 KiB", n)
	}
}

// TestBinaryMetricCardinality: 10,000 requests to distinct unknown paths, then 3,000
// unauthenticated ones (401) to distinct paths with inbound authentication on: /metrics stays
// under 100 KB, since every label comes from a fixed set.
func TestBinaryMetricCardinality(t *testing.T) {
	e := newEnv(t, "inbound:\n  clients:\n    - {name: a, token_sha256: "+inbound.HashToken("a-token-0123456789abcdef")+"}\n")
	run(t, "-config", e.config)
	e.ready(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	do := func(path, token string) {
		req, _ := http.NewRequest("GET", "http://"+e.listen+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range 10000 {
		do(fmt.Sprintf("/api/v%d/me/x%d/y/%d", i%100, i, i), "a-token-0123456789abcdef")
	}
	for i := range 3000 {
		do(fmt.Sprintf("/api/v3/me/clusters/%d/unknown%d", i, i), "")
	}
	_, body := get(t, "http://"+e.admin+"/metrics")
	if len(body) > 100<<10 {
		t.Errorf("/metrics is %d bytes after 13,000 distinct paths, want under 100 KB", len(body))
	}
}

// TestKeyGivenAsPathIsNotEchoed: an API key set where auth.api_key_file's path belongs is not
// echoed by validate or serve.
func TestKeyGivenAsPathIsNotEchoed(t *testing.T) {
	e := newEnv(t, "")
	const key = "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz-_MnBvCxZaSd"
	path := filepath.Join(e.dir, "key.yaml")
	opsWrite(t, path, strings.Replace(mustRead(t, e.config), e.keyFile, key, 1))
	for _, args := range [][]string{{"validate", "-config", path}, {"-config", path}} {
		code, stdout, stderr := runBin(t, nil, "", args...)
		if code == 0 || strings.Contains(stdout+stderr, key) || !strings.Contains(stderr, "auth.api_key_file") {
			t.Errorf("%v: exit %d, output %q %q: want a failure naming auth.api_key_file without the key", args, code, stdout, stderr)
		}
	}
}
