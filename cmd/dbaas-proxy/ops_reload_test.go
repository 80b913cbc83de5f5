package main

// End-to-end tests of reloading: the API key file on SIGHUP and when it changes, and the CA
// file on SIGHUP, each against the whole program in front of the emulator.

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
)

// opsWrite replaces the file at path atomically (a poller never sees it half written).
func opsWrite(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// opsTokenRequests counts the token requests that reached em carrying api_key key.
func opsTokenRequests(em *emulator.Server, key string) int {
	n := 0
	for _, a := range em.Requests() {
		if a.Path == opsTokenPath && a.Header.Get("api_key") == key {
			n++
		}
	}
	return n
}

func TestSIGHUPReloadsKey(t *testing.T) {
	e := newEnv(t, "")
	p := start(t, nil, "-config", e.config)
	e.ready(t)
	newKey := "ops-rotated-" + strings.Repeat("k", 40)
	e.em.AddAPIKey(newKey, e.em.UserID())
	e.em.RemoveAPIKey(e.em.APIKey()) // from now on only the new key gets a token
	opsWrite(t, e.keyFile, `{"name":"rotated","apiKey":"`+newKey+`"}`)
	p.sig <- syscall.SIGHUP
	eventually(t, 5*time.Second, "a token exchange with the new key", func() bool { return opsTokenRequests(e.em, newKey) > 0 })
	e.ready(t)
	if code, body := get(t, "http://"+e.listen+"/api/v3/me/services"); code != http.StatusOK {
		t.Fatalf("GET after the key rotation = %d %s", code, body)
	}
	mustContainAll(t, p.stderr.String(), "the API key changed; fetching a new token")
	if strings.Contains(p.stderr.String(), newKey) {
		t.Error("the new API key is in the logs")
	}
}

func TestSIGHUPBrokenKeyKeepsOldToken(t *testing.T) {
	tests := []struct{ name, content string }{
		{"empty", ""},
		{"garbage JSON", `{"apiKey": ops-secret-fragment`},
		{"JSON without apiKey", `{"name": "ops-secret-fragment"}`},
		{"two lines", "ops-secret-fragment\nmore\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			p := start(t, nil, "-config", e.config)
			e.ready(t)
			before := e.em.Counters().TokenRequests
			opsWrite(t, e.keyFile, tt.content)
			p.sig <- syscall.SIGHUP
			eventually(t, 5*time.Second, "an error about the key file", func() bool {
				return opsLogLine(p.stderr.String(), func(m map[string]any) bool {
					return m["level"] == "error" && m["message"] == "keeping the old API key"
				}) != nil
			})
			if code, body := get(t, "http://"+e.listen+"/api/v3/me/services"); code != http.StatusOK {
				t.Fatalf("GET after a broken key file = %d %s", code, body)
			}
			if code, body := get(t, "http://"+e.admin+"/readyz"); code != http.StatusOK {
				t.Errorf("readyz after a broken key file = %d %s", code, body)
			}
			if n := e.em.Counters().TokenRequests; n != before {
				t.Errorf("%d token requests after a broken key file, want none: the old token serves", n-before)
			}
			if strings.Contains(p.stderr.String(), "ops-secret-fragment") {
				t.Error("the key file's content is in the logs")
			}
		})
	}
}

// TestSIGHUPReloadsCA runs its steps in order against one process.
func TestSIGHUPReloadsCA(t *testing.T) {
	e := newEnv(t, "")
	other, err := emulator.Start(emulator.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	p := start(t, nil, "-config", e.config)
	e.ready(t)
	steps := []struct {
		name    string
		ca      []byte
		status  int
		rejects bool // the file is refused: wait for the error, then expect the old CA in use
	}{
		{"garbage keeps the old CA", []byte("not a certificate\n"), http.StatusOK, true},
		{"another emulator's CA is used", other.CAPEM(), http.StatusBadGateway, false},
		{"the right CA again", e.em.CAPEM(), http.StatusOK, false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			kept := strings.Count(p.stderr.String(), "keeping the old CA")
			opsWrite(t, e.caFile, string(s.ca))
			p.sig <- syscall.SIGHUP
			if s.rejects {
				eventually(t, 5*time.Second, "the CA error logged", func() bool {
					return strings.Count(p.stderr.String(), "keeping the old CA") > kept
				})
			}
			var code int
			var body string
			eventually(t, 5*time.Second, "GET answers "+strconv.Itoa(s.status), func() bool {
				code, body = get(t, "http://"+e.listen+"/api/v3/me/services")
				return code == s.status
			})
			if s.status == http.StatusBadGateway && !strings.Contains(body, "not signed by the CA in upstream.ca_file") {
				t.Errorf("502 body %q does not blame the CA file", body)
			}
		})
	}
}
