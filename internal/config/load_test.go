package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

const minimal = "upstream:\n  url: https://127.0.0.1:20000\n  ca_file: /ca.pem\n"

// problems returns the problems of err by key ("" for a whole-document one), failing if err
// is not made of *Error values.
func problems(t *testing.T, err error) map[string]*Error {
	t.Helper()
	m := map[string]*Error{}
	for _, p := range configerr.List(err) {
		var ce *Error
		if !errors.As(error(p), &ce) {
			t.Fatalf("%v is not a *configerr.Error", p)
		}
		m[p.Key] = p
	}
	return m
}

// TestTypeErrorsNameKeyAndFix: each type error names the key, the line and the fix, and none
// hides the others, nor the unknown keys, nor the value errors.
func TestTypeErrorsNameKeyAndFix(t *testing.T) {
	p := testkit.WriteFile(t, testkit.TempDir(t), "c.yaml", minimal+
		"  timeout: 60\n"+ // line 4
		"  max_idle_conns: lots\n"+ // 5
		"  http2: maybe\n"+ // 6
		"listn: x\n"+ // 7
		"log:\n  level: loud\n"+ // 9
		"auth:\n  refresh_on: [401, x]\n"+ // 11
		"inbound:\n  tls: [a]\n") // 13
	_, err := Load(p)
	got := problems(t, err)
	want := map[string]struct {
		line int
		text string
	}{
		"upstream.timeout":        {4, "upstream.timeout: 60 is not a duration; write 60s"},
		"upstream.max_idle_conns": {5, `"lots" is not a whole number; write a whole number`},
		"upstream.http2":          {6, `"maybe" is not a boolean; write true or false`},
		"listn":                   {7, "unknown key"},
		"log.level":               {9, `"loud" is not a level`},
		"auth.refresh_on[1]":      {11, `"x" is not a whole number`},
		"inbound.tls":             {13, "a list where a mapping of keys belongs"},
	}
	for key, w := range want {
		p, ok := got[key]
		if !ok {
			t.Errorf("no problem for %s in:\n%v", key, err)
			continue
		}
		if p.Line != w.line || p.Source != at(p.Source[:strings.LastIndex(p.Source, ":")], w.line) || !strings.Contains(p.Error(), w.text) {
			t.Errorf("%s: got %q (line %d), want line %d and %q", key, p.Error(), p.Line, w.line, w.text)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
}

func TestDocumentNotAMapping(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"list", "- a\n- b\n", "the file holds a list, not a mapping of keys"},
		{"scalar", "hello\n", `the file holds a single value ("hello"), not a mapping of keys`},
		{"two documents", minimal + "---\nlisten: x\n", "more than one YAML document"},
		{"duplicate key", minimal + "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", "listen: set twice (first on line 4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(testkit.WriteFile(t, testkit.TempDir(t), "c.yaml", tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "!!") {
				t.Errorf("err = %v, want %q (in words, not YAML tags)", err, tt.want)
			}
		})
	}
}

// TestEveryScalarKeyHasItsVariable walks Config itself (not Keys) so that a key Keys missed fails.
func TestEveryScalarKeyHasItsVariable(t *testing.T) {
	byName := map[string]Key{}
	envs := map[string]string{}
	for _, k := range Keys() {
		byName[k.Name] = k
		if other, dup := envs[k.Env]; dup {
			t.Errorf("%s and %s share the variable %s", other, k.Name, k.Env)
		}
		envs[k.Env] = k.Name
	}
	var walk func(t reflect.Type, prefix string)
	n := 0
	walk = func(rt reflect.Type, prefix string) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			key := joinKey(prefix, name)
			elem := f.Type
			if elem.Kind() == reflect.Slice {
				elem = elem.Elem()
			}
			if elem.Kind() == reflect.Struct && elem != reflect.TypeOf(time.Time{}) {
				if f.Type.Kind() == reflect.Struct {
					walk(f.Type, key)
				}
				continue // lists of mappings are file-only
			}
			n++
			want := "DBAAS_PROXY_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
			if k, ok := byName[key]; !ok || k.Env != want {
				t.Errorf("key %s: variable %q, want %s", key, k.Env, want)
			}
			if !strings.Contains(Example, name+":") {
				t.Errorf("config.example.yaml does not show %s", key)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	if n != len(byName) || n < 30 {
		t.Errorf("Config has %d scalar keys, Keys lists %d", n, len(byName))
	}
	for _, k := range []string{"DBAAS_PROXY_LISTEN", "DBAAS_PROXY_UPSTREAM_URL", "DBAAS_PROXY_UPSTREAM_REGION",
		"DBAAS_PROXY_UPSTREAM_CA_FILE", "DBAAS_PROXY_UPSTREAM_SERVER_NAME", "DBAAS_PROXY_AUTH_API_KEY_FILE",
		"DBAAS_PROXY_LOG_LEVEL", "DBAAS_PROXY_ADMIN_LISTEN", "DBAAS_PROXY_AUTH_REFRESH_ON", "DBAAS_PROXY_LOG_FILE"} {
		if envs[k] == "" {
			t.Errorf("no key for %s", k)
		}
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	dir := testkit.TempDir(t)
	file := testkit.WriteFile(t, dir, "c.yaml", minimal+"  timeout: 5s\nlisten: 127.0.0.1:1111\nlog:\n  level: warn\n")
	t.Run("no file at all", func(t *testing.T) {
		cfg, err := Resolve(Sources{Environ: []string{"PATH=/bin", "DBAAS_PROXY_UPSTREAM_REGION=eu-de",
			"DBAAS_PROXY_UPSTREAM_CA_FILE=ca.pem", "DBAAS_PROXY_AUTH_REFRESH_ON=401, 403", "DBAAS_PROXY_ADMIN_LISTEN="}})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.UpstreamURL() != "https://dbaas902.hyperp-dbaas.cloud.ibm.com:20000" || cfg.Upstream.CAFile != "ca.pem" ||
			!reflect.DeepEqual(cfg.Auth.RefreshOn, []int{401, 403}) || cfg.Admin.Listen != "" || cfg.Listen != "127.0.0.1:20000" {
			t.Errorf("got %+v", cfg)
		}
		if s := cfg.Source("upstream.ca_file"); s != "environment variable DBAAS_PROXY_UPSTREAM_CA_FILE" {
			t.Errorf("Source = %q", s)
		}
	})
	t.Run("flags over environment over file over defaults", func(t *testing.T) {
		cfg, err := Resolve(Sources{File: file,
			Environ: []string{"DBAAS_PROXY_LISTEN=127.0.0.1:2222", "DBAAS_PROXY_LOG_LEVEL=debug"},
			Flags:   []Flag{{Name: "log-level", Key: "log.level", Value: "error"}}})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Listen != "127.0.0.1:2222" || cfg.Log.Level != "error" || cfg.Upstream.Timeout != 5*time.Second || cfg.ShutdownTimeout != 30*time.Second {
			t.Errorf("listen %q level %q timeout %v shutdown %v", cfg.Listen, cfg.Log.Level, cfg.Upstream.Timeout, cfg.ShutdownTimeout)
		}
		for key, want := range map[string]string{"listen": "environment variable DBAAS_PROXY_LISTEN",
			"log.level": "flag -log-level", "upstream.timeout": file + ":4", "shutdown_timeout": ""} {
			if got := cfg.Source(key); got != want {
				t.Errorf("Source(%s) = %q, want %q", key, got, want)
			}
		}
	})
	t.Run("each problem names its source", func(t *testing.T) {
		_, err := Resolve(Sources{File: file,
			Environ: []string{"DBAAS_PROXY_UPSTREAM_TIMEOUT=60", "DBAAS_PROXY_LISTN=x", "DBAAS_PROXY_INBOUND_CLIENTS=a"},
			Flags:   []Flag{{Name: "listen", Key: "listen", Value: "nowhere"}}})
		msg := err.Error()
		for _, w := range []string{
			`environment variable DBAAS_PROXY_UPSTREAM_TIMEOUT: upstream.timeout: "60" is not a duration; write 60s`,
			"environment variable DBAAS_PROXY_LISTN: names no config key; did you mean DBAAS_PROXY_LISTEN?",
			"environment variable DBAAS_PROXY_INBOUND_CLIENTS: names no config key",
			`flag -listen: listen: "nowhere" is not HOST:PORT`,
		} {
			if !strings.Contains(msg, w) {
				t.Errorf("error does not contain %q:\n%s", w, msg)
			}
		}
	})
	t.Run("the variables of a Kubernetes Service named dbaas-proxy pass", func(t *testing.T) {
		_, err := Resolve(Sources{File: file, Environ: []string{"DBAAS_PROXY_SERVICE_HOST=10.0.0.1",
			"DBAAS_PROXY_SERVICE_PORT=20000", "DBAAS_PROXY_SERVICE_PORT_HTTP=20000", "DBAAS_PROXY_PORT=tcp://10.0.0.1:20000",
			"DBAAS_PROXY_PORT_20000_TCP=tcp://10.0.0.1:20000", "DBAAS_PROXY_PORT_20000_TCP_PROTO=tcp",
			"DBAAS_PROXY_PORT_20000_TCP_PORT=20000", "DBAAS_PROXY_PORT_20000_TCP_ADDR=10.0.0.1"}})
		if err != nil {
			t.Errorf("Kubernetes service variables: %v", err)
		}
	})
	t.Run("a missing key says which variable sets it", func(t *testing.T) {
		_, err := Resolve(Sources{Environ: []string{"DBAAS_PROXY_UPSTREAM_REGION=eu-de"}})
		if err == nil || !strings.Contains(err.Error(), "upstream.ca_file: not set") || !strings.Contains(err.Error(), "DBAAS_PROXY_UPSTREAM_CA_FILE") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestRelativePathsFollowTheFile: relative paths in a file resolve against its folder; from
// the environment, against the working directory.
func TestRelativePathsFollowTheFile(t *testing.T) {
	dir := filepath.Join(testkit.TempDir(t), "etc")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := testkit.WriteFile(t, dir, "c.yaml", "upstream:\n  url: https://h:1\n  ca_file: ca.pem\nauth:\n  api_key_file: ../keys/k\n"+
		"log:\n  file: log/p.log\ninbound:\n  tls:\n    cert_file: /abs/c.pem\n    key_file: k.pem\n")
	cfg, err := Resolve(Sources{File: file, Environ: []string{"DBAAS_PROXY_INBOUND_TLS_CLIENT_CA_FILE=rel/ca.pem"}})
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		cfg.Upstream.CAFile:          filepath.Join(dir, "ca.pem"),
		cfg.Auth.APIKeyFile:          filepath.Join(filepath.Dir(dir), "keys", "k"),
		cfg.Log.File:                 filepath.Join(dir, "log", "p.log"),
		cfg.Inbound.TLS.CertFile:     "/abs/c.pem",
		cfg.Inbound.TLS.KeyFile:      filepath.Join(dir, "k.pem"),
		cfg.Inbound.TLS.ClientCAFile: "rel/ca.pem",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	var paths []string
	for _, k := range Keys() {
		if k.Path {
			paths = append(paths, k.Name)
		}
	}
	if want := []string{"upstream.ca_file", "auth.api_key_file", "auth.iam_ca_file", "auth.cr_token_file", "log.file", "inbound.tls.cert_file", "inbound.tls.key_file", "inbound.tls.client_ca_file"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("path keys %v, want %v", paths, want)
	}
}

// TestExampleIsTheRootFile: the embedded example is the repository's config.example.yaml.
func TestExampleIsTheRootFile(t *testing.T) {
	root, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(root) != Example {
		t.Error("internal/config/config.example.yaml differs from the root config.example.yaml: run go generate ./internal/config")
	}
}

// TestConfigsThatExplode: nested aliases (a "billion laughs") and a file over 1 MiB are
// refused at once with an error naming the file and the limit.
func TestConfigsThatExplode(t *testing.T) {
	dir := testkit.TempDir(t)
	bomb := "x0: &a0 [k,k,k,k,k,k,k,k,k,k]\n"
	for i := 1; i < 9; i++ {
		bomb += fmt.Sprintf("x%d: &a%d [%s]\n", i, i, strings.Repeat(fmt.Sprintf("*a%d,", i-1), 10))
	}
	cases := []struct{ name, content, want string }{
		{"aliases", bomb + "admin:\n  clients: *a8\n", "expands to more than 100000 YAML nodes"},
		{"large", minimal + "#" + strings.Repeat("x", 1<<20) + "\n", "is larger than 1 MiB, the cap for this file"},
	}
	for _, c := range cases {
		path := testkit.WriteFile(t, dir, c.name+".yaml", c.content)
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Load = %v, want %q and the path", c.name, err, c.want)
		}
	}
}

// TestNumbersHaveRanges: a number or duration beyond its range, and a log level zerolog takes
// but the documentation does not, are refused with the key and the range.
func TestNumbersHaveRanges(t *testing.T) {
	cases := []struct{ env, key, want string }{
		{"AUTH_MAX_REPLAY_BYTES=9223372036854775807", "auth.max_replay_bytes", "is out of range; use 0 to 67108864"},
		{"INBOUND_MAX_HEADER_BYTES=9223372036854775807", "inbound.max_header_bytes", "is out of range; use 0 to 1048576"},
		{"UPSTREAM_MAX_CONNS=100000000", "upstream.max_conns", "is out of range; use 0 to 65536"},
		{"UPSTREAM_TIMEOUT=2000000h", "upstream.timeout", "is out of range; use 0s to 24h0m0s"},
		{"INBOUND_MAX_BODY_BYTES=-1", "inbound.max_body_bytes", "-1 is out of range; use 0 to 1099511627776"},
		{"INBOUND_MAX_CONCURRENT_REQUESTS=-2", "inbound.max_concurrent_requests", "-2 is out of range"},
		{"INBOUND_READ_HEADER_TIMEOUT=-1s", "inbound.read_header_timeout", "-1s is out of range"},
		{"INBOUND_BODY_IDLE_TIMEOUT=-1s", "inbound.body_idle_timeout", "-1s is out of range"},
		{"SHUTDOWN_DELAY=-1s", "shutdown_delay", "-1s is out of range"},
		{"INBOUND_MIN_BODY_RATE=1GB", "inbound.min_body_rate", "is not a rate"},
		{"LOG_LEVEL=60", "log.level", "is not a level"},
		{"LOG_LEVEL=disabled", "log.level", "is not a level"},
	}
	for _, c := range cases {
		_, err := Resolve(Sources{Environ: []string{EnvPrefix + c.env, EnvPrefix + "UPSTREAM_URL=https://127.0.0.1:1",
			EnvPrefix + "UPSTREAM_CA_FILE=/ca.pem"}})
		p := problems(t, err)[c.key]
		if p == nil || !strings.Contains(p.Error(), c.want) {
			t.Errorf("%s: problem %v, want %q (all: %v)", c.env, p, c.want, err)
		}
	}
}

// TestListenAddressesThatCannotWork: validate refuses a malformed port and a socket path
// longer than a socket address holds.
func TestListenAddressesThatCannotWork(t *testing.T) {
	long := "more than the 103 a socket address holds"
	if runtime.GOOS == "windows" {
		long = "unix: sockets are not supported on Windows" // whatever the length
	}
	for addr, want := range map[string]string{
		"127.0.0.1:http":                    "the port must be a number",
		"127.0.0.1:99999":                   "the port must be a number",
		"127.0.0.1:-1":                      "the port must be a number",
		"unix:/" + strings.Repeat("d", 120): long,
	} {
		if err := checkListen(addr, false); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("checkListen(%q) = %v, want %q", addr, err, want)
		}
	}
	if err := checkListen("127.0.0.1:0", false); err != nil {
		t.Errorf("port 0: %v", err)
	}
}
