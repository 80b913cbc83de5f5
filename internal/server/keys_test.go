package server

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

const (
	keyA = "keys-test-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyB = "keys-test-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	keyC = "keys-test-key-ccccccccccccccccccccccccccccc"
	keyD = "keys-test-key-ddddddddddddddddddddddddddddd"
)

// shell is the argv that runs a script with the system's shell: /bin/sh -c unix, or on
// Windows cmd /c windows; shellName is its name in messages.
func shell(unix, windows string) []string {
	if runtime.GOOS == "windows" {
		return []string{"cmd", "/c", windows}
	}
	return []string{"/bin/sh", "-c", unix}
}

func shellName() string { return filepath.Base(shell("", "")[0]) }

// TestKeySourcesInOrder: auth.api_key_file, then auth.api_key_command, then DBAAS_API_KEY,
// then IBMCLOUD_API_KEY.
func TestKeySourcesInOrder(t *testing.T) {
	file := testkit.WriteFile(t, testkit.TempDir(t), "key", keyA+"\n")
	command := shell("echo "+keyB, "echo "+keyB)
	both := map[string]string{APIKeyEnv: keyC, IBMCloudAPIKeyEnv: keyD}
	tests := []struct {
		name       string
		auth       config.AuthConfig
		env        map[string]string
		key, where string
	}{
		{"file before the environment", config.AuthConfig{APIKeyFile: file}, both, keyA, "file " + file},
		{"command before the environment", config.AuthConfig{APIKeyCommand: command}, both, keyB, "command " + shellName() + " (auth.api_key_command)"},
		{"DBAAS_API_KEY before IBMCLOUD_API_KEY", config.AuthConfig{}, both, keyC, "environment variable DBAAS_API_KEY"},
		{"IBMCLOUD_API_KEY last", config.AuthConfig{}, map[string]string{IBMCloudAPIKeyEnv: keyD}, keyD, "environment variable IBMCLOUD_API_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := newKeyStore(tt.auth, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if key, _ := ks.Key(); key != tt.key || ks.source() != tt.where {
				t.Errorf("key %q from %q, want %q from %q", key, ks.source(), tt.key, tt.where)
			}
			if strings.Contains(ks.source(), tt.key) {
				t.Error("the source names the key")
			}
		})
	}
	_, err := newKeyStore(config.AuthConfig{}, func(string) string { return "" })
	for _, w := range []string{"auth.api_key_file", "auth.api_key_command", APIKeyEnv, IBMCloudAPIKeyEnv} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("no key: error %v does not name %s", err, w)
		}
	}
}

func TestKeyCommand(t *testing.T) {
	old := keyCommandTimeout
	t.Cleanup(func() { keyCommandTimeout = old })
	stderrNote := "wrote 21 bytes to stderr" // "item dbaas not found\n"
	if runtime.GOOS == "windows" {
		stderrNote = "bytes to stderr" // cmd.exe's echo writes " \r\n"
	}
	tests := []struct {
		name          string
		unix, windows string   // the script for sh and for cmd.exe
		want          []string // in the error; "" for success
	}{
		{"trimmed stdout is the key", "printf '  %s\\n\\n' " + keyA, "echo   " + keyA + "& echo.", nil},
		{"failure shows neither stderr nor stdout", "echo " + keyA + "; echo 'item dbaas not found' >&2; exit 44",
			"echo " + keyA + "& echo item dbaas not found 1>&2& exit /b 44",
			[]string{"auth.api_key_command: " + shellName() + " failed: exit status 44", stderrNote}},
		{"no output", "true", "rem", []string{"the output of " + shellName() + " is not an API key: 0 characters"}},
		{"not a key", "echo apikey=" + keyA, "echo apikey=" + keyA, []string{"the output of " + shellName() + " is not an API key", `'='`}},
		// Last: under wine 8.0 a process started just after this one was killed could fail
		// with "Internal error.".
		{"timeout", "sleep 5", "ping -n 6 127.0.0.1 >nul", []string{"auth.api_key_command: " + shellName() + " did not finish within 300ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keyCommandTimeout = old // the default: cmd.exe alone can take 300 ms under wine
			if tt.name == "timeout" {
				keyCommandTimeout = 300 * time.Millisecond
			}
			ks, err := newKeyStore(config.AuthConfig{APIKeyCommand: shell(tt.unix, tt.windows)}, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if k, _ := ks.Key(); k != keyA {
					t.Errorf("key %q, want %q", k, keyA)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), keyA) || strings.Contains(err.Error(), "item dbaas") {
				t.Errorf("the error shows the command's output: %v", err)
			}
		})
	}
}

// TestKeyCommandRerunOnReload: each reload runs the command again.
func TestKeyCommandRerunOnReload(t *testing.T) {
	src := testkit.WriteFile(t, testkit.TempDir(t), "src", keyA)
	ks, err := newKeyStore(config.AuthConfig{APIKeyCommand: shell("cat "+src, "type "+src)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, filepath.Dir(src), "src", keyB)
	changed, err := ks.reload()
	if k, _ := ks.Key(); err != nil || !changed || k != keyB {
		t.Errorf("reload = %v, %v; key %q, want %q", changed, err, k, keyB)
	}
}

func TestKeyFileHygiene(t *testing.T) {
	dir := testkit.TempDir(t)
	tests := []struct {
		name, content string
		want          string // in the error; "" for none
	}{
		{"a bare key", keyA + "\n", ""},
		{"the console's JSON", `{"name":"x","apiKey":"` + keyA + `"}`, ""},
		{"apikey=", "apikey=" + keyA, "is not an API key: it holds '='"},
		{"quoted", `"` + keyA + `"`, "is not an API key: it holds '\"'"},
		{"spaces inside", "keys test key " + keyA, "white space"},
		{"too short", "abc123", "6 characters is too short"},
		{"empty", "", "it is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testkit.WriteFile(t, dir, "key", tt.content)
			_, err := newKeyStore(config.AuthConfig{APIKeyFile: p}, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "auth.api_key_file: ") || !strings.Contains(err.Error(), p) {
				t.Errorf("error %v, want auth.api_key_file, the path and %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), keyA) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

func TestKeyFileModeWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no group/other mode bits: file access is by ACL, which os.FileMode does not show")
	}
	p := testkit.WriteFile(t, testkit.TempDir(t), "key", keyA)
	for _, tt := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o400, false}, {0o640, true}, {0o644, true}} {
		if err := os.Chmod(p, tt.mode); err != nil {
			t.Fatal(err)
		}
		src, warnings, err := APIKeySource(config.AuthConfig{APIKeyFile: p}, nil)
		if err != nil || src != "file "+p {
			t.Fatalf("APIKeySource = %q, %v", src, err)
		}
		if got := len(warnings) > 0; got != tt.warn {
			t.Errorf("mode %04o: warnings %q, want a warning: %v", tt.mode, warnings, tt.warn)
		}
		if tt.warn && !strings.Contains(warnings[0], "readable by group or others") {
			t.Errorf("warning %q", warnings[0])
		}
	}
}

// TestUserAgent: the token exchanges the server and NewTokenSource make carry
// dbaas-proxy/VERSION (tokensource sets none; without this, Go's default would be sent).
func TestUserAgent(t *testing.T) {
	h := newHarness(t, Options{Version: "v9.9.9-ua"}, nil)
	h.serve(t)
	h.ready(t)
	ex, closeFn, err := NewTokenSource(h.cfg, Options{Version: "v9.9.8-ua"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, err := ex.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range h.em.Requests() {
		if r.Path == h.cfg.Auth.TokenPath {
			got[r.Header.Get("User-Agent")] = true
		}
	}
	if !got["dbaas-proxy/v9.9.9-ua"] || !got["dbaas-proxy/v9.9.8-ua"] || len(got) != 2 {
		t.Errorf("token requests' User-Agents = %v, want dbaas-proxy/v9.9.9-ua and dbaas-proxy/v9.9.8-ua", got)
	}
}
