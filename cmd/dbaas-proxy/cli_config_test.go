package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// TestConfigProblemsThroughBinary: every problem at once, each naming its key, where the value
// came from and the fix; exit 2.
func TestConfigProblemsThroughBinary(t *testing.T) {
	dir := testkit.TempDir(t)
	good := "upstream:\n  url: https://127.0.0.1:1\n  ca_file: " + filepath.Join(dir, "ca.pem") + "\n"
	typeErrs := testkit.WriteFile(t, dir, "types.yaml", good+"  timeout: 60\nlistn: x\nlog:\n  level: loud\n")
	list := testkit.WriteFile(t, dir, "list.yaml", "- listen: x\n")
	missing := testkit.WriteFile(t, dir, "missing.yaml", "upstream:\n  url: https://127.0.0.1:1\n  ca_file: nope/ca.pem\n"+
		"auth:\n  api_key_file: nope/key\ninbound:\n  tls:\n    cert_file: nope/c.pem\n    key_file: nope/k.pem\n")
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"type errors, an unknown key and a bad value at once", nil, []string{"validate", "-config", typeErrs}, []string{
			typeErrs + ":4: upstream.timeout: 60 is not a duration; write 60s",
			typeErrs + ":5: listn: unknown key; did you mean listen? valid keys here:",
			typeErrs + `:7: log.level: "loud" is not a level`}},
		{"a document that is not a mapping", nil, []string{"validate", "-config", list}, []string{
			list + ":1: the file holds a list, not a mapping of keys"}},
		{"every missing file, relative to the config file", nil, []string{"validate", "-config", missing}, []string{
			missing + ":3: upstream.ca_file: cannot read " + filepath.Join(dir, "nope", "ca.pem"),
			missing + ":5: auth.api_key_file: cannot read " + filepath.Join(dir, "nope", "key"),
			missing + ":8: inbound.tls.cert_file: cannot read " + filepath.Join(dir, "nope", "c.pem"),
			missing + ":9: inbound.tls.key_file: cannot read " + filepath.Join(dir, "nope", "k.pem")}},
		{"variables and flags are named", []string{"DBAAS_PROXY_UPSTREAM_TIMEOUT=60", "DBAAS_PROXY_LISTN=1"},
			[]string{"run", "-config", typeErrs, "-listen", "nowhere"}, []string{
				`environment variable DBAAS_PROXY_UPSTREAM_TIMEOUT: upstream.timeout: "60" is not a duration; write 60s`,
				"environment variable DBAAS_PROXY_LISTN: names no config key; did you mean DBAAS_PROXY_LISTEN?",
				`flag -listen: listen: "nowhere" is not HOST:PORT`}},
		{"no file: the variables that would set what is missing", []string{"DBAAS_PROXY_UPSTREAM_REGION=eu-de"}, []string{"validate"}, []string{
			"upstream.ca_file: not set", "DBAAS_PROXY_UPSTREAM_CA_FILE", "no -config FILE given"}},
		{"log.format says where the lines go", []string{"DBAAS_PROXY_LOG_FORMAT=xml"}, []string{"validate", "-config", typeErrs}, []string{
			`environment variable DBAAS_PROXY_LOG_FORMAT: log.format: "xml" is not a format; use auto (text on a terminal, else JSON: log lines go to stderr, or to log.file)`}},
		{"a stray argument", nil, []string{"run", "-config", typeErrs, "my-api-key"}, []string{"never an argument"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runBin(t, tt.env, "", tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			mustContainAll(t, stderr, tt.want...)
			if strings.Contains(stderr, "!!") || strings.Contains(stderr, "cannot unmarshal") {
				t.Errorf("Go or YAML types in the error:\n%s", stderr)
			}
		})
	}
}

// TestKeySourcesThroughBinary: doctor says which source the key comes from, never the key, and
// prints the values in force (the inbound limits too); a bad key file is an error naming
// auth.api_key_file; a file others can read gets a warning.
func TestKeySourcesThroughBinary(t *testing.T) {
	e := newEnv(t, "")
	key := e.em.APIKey()
	base := strings.Replace(mustRead(t, e.config), "  api_key_file: "+e.keyFile+"\n", "", 1)
	noKey := testkit.WriteFile(t, e.dir, "nokey.yaml", base)
	keyDir := testkit.TempDir(t)
	bare := testkit.WriteFile(t, keyDir, "bare", key+"\n")
	cat, argv := "cat", "[cat, "+bare+"]"
	if runtime.GOOS == "windows" {
		cat, argv = "cmd", "[cmd, /c, type, "+bare+"]" // cmd.exe's type is Windows' cat
	}
	cmdCfg := testkit.WriteFile(t, e.dir, "cmd.yaml", strings.Replace(base, "auth:\n", "auth:\n  api_key_command: "+argv+"\n", 1))
	tests := []struct {
		name string
		env  []string
		cfg  string
		want string
	}{
		{"file", []string{"IBMCLOUD_API_KEY=" + key, "DBAAS_PROXY_LOG_LEVEL=warn"}, e.config, "ok    api_key    from file " + e.keyFile},
		{"command", []string{"DBAAS_API_KEY=" + key}, cmdCfg, "ok    api_key    from command " + cat + " (auth.api_key_command)"},
		{"DBAAS_API_KEY", []string{"DBAAS_API_KEY=" + key, "IBMCLOUD_API_KEY=other-key-xxxxxxxxxxxxxxxxxx"}, noKey, "ok    api_key    from environment variable DBAAS_API_KEY"},
		{"IBMCLOUD_API_KEY", []string{"IBMCLOUD_API_KEY=" + key}, noKey, "ok    api_key    from environment variable IBMCLOUD_API_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runBin(t, tt.env, "", "doctor", "-config", tt.cfg)
			if code != 0 {
				t.Fatalf("doctor: exit %d\n%s\n%s", code, out, stderr)
			}
			mustContainAll(t, out, tt.want, "ok    token", "max_concurrent_requests: 1024", "read_header_timeout: 10s",
				"idle_timeout: 2m0s", "max_header_bytes: 65536")
			if strings.Contains(out+stderr, key) {
				t.Error("doctor printed the API key")
			}
			if tt.name == "file" { // each value set is marked with where it was set
				mustContainAll(t, out, "ca_file: "+e.caFile+" # "+e.config+":5\n",
					"  log.level: warn # environment variable DBAAS_PROXY_LOG_LEVEL\n", "  upstream.timeout: 1m0s\n",
					"  inbound.body_idle_timeout: 30s\n")
			}
		})
	}
	t.Run("a key file that is not a key", func(t *testing.T) {
		testkit.WriteFile(t, keyDir, "bad", "apikey="+key)
		code, _, stderr := runBin(t, []string{"DBAAS_PROXY_AUTH_API_KEY_FILE=" + filepath.Join(keyDir, "bad")}, "", "validate", "-config", noKey)
		if code != exitUsage || !strings.Contains(stderr, "auth.api_key_file: the content of "+filepath.Join(keyDir, "bad")+" is not an API key") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		if strings.Contains(stderr, key) {
			t.Error("the error shows the key")
		}
	})
	t.Run("a key file others can read", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("Windows has no group/other mode bits")
		}
		if err := os.Chmod(bare, 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runBin(t, []string{"DBAAS_PROXY_AUTH_API_KEY_FILE=" + bare}, "", "doctor", "-config", noKey)
		if code != 0 || !strings.Contains(out, "warn  api_key    auth.api_key_file: "+bare+" is readable by group or others (mode 0644)") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
}

// TestEnvironmentOnlyAndLogFile: with no config file, the environment alone runs the proxy;
// log lines go to log.file (0600) with millisecond UTC times, and SIGHUP reopens it after a
// rename (logrotate).
func TestEnvironmentOnlyAndLogFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sends SIGHUP and SIGTERM")
	}
	e := newEnv(t, "")
	logFile := filepath.Join(e.dir, "logs", "proxy.log")
	if err := os.Mkdir(filepath.Dir(logFile), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t))
	cmd.Env = append(baseEnv(), "DBAAS_PROXY_LISTEN="+e.listen, "DBAAS_PROXY_ADMIN_LISTEN="+e.admin,
		"DBAAS_PROXY_UPSTREAM_URL="+e.em.URL(), "DBAAS_PROXY_UPSTREAM_CA_FILE="+e.caFile,
		"DBAAS_PROXY_LOG_FILE="+logFile, "DBAAS_API_KEY="+e.em.APIKey())
	var stderr testkit.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
	}()
	e.ready(t)
	if code, body := get(t, "http://"+e.listen+"/api/v3/me/services"); code != http.StatusOK {
		t.Fatalf("GET = %d %s; stderr %s", code, body, stderr.String())
	}
	st, err := os.Stat(logFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("log file: %v, mode %v", err, st)
	}
	eventually(t, 5*time.Second, "the access line in log.file", func() bool {
		return strings.Contains(mustRead(t, logFile), `"message":"request"`)
	})
	timeRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	sc := bufio.NewScanner(bytes.NewReader([]byte(mustRead(t, logFile))))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		if s, _ := line["time"].(string); !timeRE.MatchString(s) {
			t.Errorf("time %q is not RFC 3339 UTC with milliseconds", line["time"])
		}
	}
	if !strings.Contains(mustRead(t, logFile), `"credential":"environment variable DBAAS_API_KEY"`) {
		t.Error("the start line does not name the key's source")
	}
	rotated := logFile + ".1"
	if err := os.Rename(logFile, rotated); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a new log.file after SIGHUP", func() bool {
		b, err := os.ReadFile(logFile)
		return err == nil && strings.Contains(string(b), "reloading")
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v; stderr %s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	if strings.Contains(mustRead(t, rotated), "stopped") || !strings.Contains(mustRead(t, logFile), `"message":"stopped"`) {
		t.Error("lines after SIGHUP went to the rotated file")
	}
	if stderr.String() != "" {
		t.Errorf("stderr is not empty with log.file set: %s", stderr.String())
	}
	if strings.Contains(mustRead(t, logFile)+mustRead(t, rotated), e.em.APIKey()) {
		t.Error("the API key is in the log")
	}
}
