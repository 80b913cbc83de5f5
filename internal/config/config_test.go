package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

func TestExampleConfigLoads(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The example leaves the two required keys empty; fill them as a user would.
	s := strings.Replace(string(data), `  url: ""`, `  url: https://dbaas900.hyperp-dbaas.cloud.ibm.com:20000`, 1)
	s = strings.Replace(s, `  ca_file: ""`, `  ca_file: /etc/dbaas-proxy/ca.pem`, 1)
	p := testkit.WriteFile(t, testkit.TempDir(t), "config.yaml", s)
	cfg, err := Load(p)
	if err != nil {
		t.Fatalf("Load(example) = %v", err)
	}
	// The example must show the defaults, not other values.
	d := Defaults()
	d.Upstream.URL, d.Upstream.CAFile = cfg.Upstream.URL, cfg.Upstream.CAFile
	if cfg.Listen != d.Listen || cfg.ShutdownTimeout != d.ShutdownTimeout || cfg.Upstream.Timeout != d.Upstream.Timeout ||
		cfg.Auth.TokenPath != d.Auth.TokenPath || cfg.Auth.Header != d.Auth.Header || cfg.Auth.DefaultLifetime != d.Auth.DefaultLifetime ||
		cfg.Auth.MaxReplayBytes != d.Auth.MaxReplayBytes || cfg.Log != d.Log || cfg.Admin.Listen != d.Admin.Listen ||
		len(cfg.Auth.RefreshOn) != 1 || cfg.Auth.RefreshOn[0] != 401 {
		t.Errorf("config.example.yaml does not show the defaults:\n got %+v\nwant %+v", *cfg, d)
	}
}

func TestConfigErrors(t *testing.T) {
	const good = "upstream:\n  url: https://127.0.0.1:20000\n  ca_file: /ca.pem\n"
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{"unknown top-level key", good + "listn: 127.0.0.1:1\n",
			[]string{"config.yaml:4: listn: unknown key", "listen"}},
		{"unknown nested key", "upstream:\n  url: https://127.0.0.1:20000\n  ca_file: /ca.pem\n  cafile: x\n",
			[]string{"config.yaml:4: upstream.cafile: unknown key", "ca_file"}},
		{"unknown key in a list item", good + "inbound:\n  clients:\n    - name: a\n      tokn: x\n",
			[]string{"config.yaml:7: inbound.clients[0].tokn: unknown key"}},
		{"bad URL scheme", "upstream:\n  url: http://127.0.0.1:20000\n  ca_file: /ca.pem\n",
			[]string{"config.yaml:2: upstream.url:", `"http://127.0.0.1:20000"`, "https://"}},
		{"URL with a path", "upstream:\n  url: https://h:1/api\n  ca_file: /ca.pem\n",
			[]string{"config.yaml:2: upstream.url:", "no path"}},
		{"no upstream", "upstream:\n  ca_file: /ca.pem\n",
			[]string{"upstream.url: not set", "upstream.region"}},
		{"bad region", "upstream:\n  region: mars\n  ca_file: /ca.pem\n",
			[]string{"config.yaml:2: upstream.region:", `"mars"`, "us-south"}},
		{"missing CA key", "upstream:\n  url: https://127.0.0.1:20000\n",
			[]string{"upstream.ca_file: not set"}},
		{"bad duration", good + "shutdown_timeout: soon\n",
			[]string{"config.yaml:4:", "soon"}},
		{"bad header", good + "auth:\n  header: cookie\n",
			[]string{"config.yaml:5: auth.header:", `"cookie"`, "x-auth-token"}},
		{"bad refresh status", good + "auth:\n  refresh_on: [401, 200]\n",
			[]string{"config.yaml:5: auth.refresh_on[1]:", "200"}},
		{"bad level", good + "log:\n  level: loud\n",
			[]string{"config.yaml:5: log.level:", `"loud"`, "debug"}},
		{"bad listen", good + "listen: localhost\n",
			[]string{"config.yaml:4: listen:", "HOST:PORT"}},
		{"syntax error", "upstream: [\n", []string{"config.yaml:", "invalid YAML"}},
		{"refresh_on other than 401 and 403", good + "auth:\n  refresh_on: [401, 500]\n",
			[]string{"config.yaml:5: auth.refresh_on[1]:", "500 is not allowed", "only 401 and 403"}},
		{"bad proxy URL, password hidden", "upstream:\n  url: https://127.0.0.1:20000\n  ca_file: /ca.pem\n  proxy_url: socks5://u:hunter2@p:1080\n",
			[]string{"config.yaml:4: upstream.proxy_url:", "socks5://u:***@p:1080", "http:// or https://"}},
		{"negative write idle timeout", good + "inbound:\n  write_idle_timeout: -1s\n",
			[]string{"config.yaml:5: inbound.write_idle_timeout: -1s is out of range"}},
		{"admin on the proxy port", good + "listen: 127.0.0.1:7000\nadmin:\n  listen: 127.0.0.1:7000\n",
			[]string{"config.yaml:6: admin.listen:", "own port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testkit.WriteFile(t, testkit.TempDir(t), "config.yaml", tt.yaml)
			_, err := Load(p)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a password", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// TestConfigReportsEveryProblem: one run names all the problems, not just the first.
func TestConfigReportsEveryProblem(t *testing.T) {
	p := testkit.WriteFile(t, testkit.TempDir(t), "c.yaml", "upstream:\n  url: ftp://x\nlog:\n  level: loud\n  format: xml\n")
	_, err := Load(p)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	for _, key := range []string{"upstream.url", "upstream.ca_file", "log.level", "log.format"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
}

func TestConfigDefaultsAndRegion(t *testing.T) {
	p := testkit.WriteFile(t, testkit.TempDir(t), "c.yaml", "upstream:\n  region: eu-de\n  ca_file: /ca.pem\n  timeout: 5s\n")
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.UpstreamURL(); got != "https://dbaas902.hyperp-dbaas.cloud.ibm.com:20000" {
		t.Errorf("UpstreamURL = %q", got)
	}
	if cfg.Upstream.Timeout != 5*time.Second || cfg.Listen != "127.0.0.1:20000" {
		t.Errorf("timeout %v listen %q", cfg.Upstream.Timeout, cfg.Listen)
	}
}

func TestMissingConfigFileIsNamed(t *testing.T) {
	if _, err := Load(filepath.Join(testkit.TempDir(t), "none.yaml")); err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("Load(missing) = %v", err)
	}
}

func FuzzDecodeConfig(f *testing.F) {
	if data, err := os.ReadFile("../../config.example.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("listen: x\nupstream: {url: 'https://h:1', ca_file: /a}\n"))
	f.Add([]byte("inbound:\n  clients:\n    - {name: a, token_sha256: b}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Decode("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		_ = cfg.Validate() // must not panic
	})
}
