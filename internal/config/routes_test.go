package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// readmeExample is the configuration of README.md's "Several upstreams", its client hash
// filled in.
func readmeExample(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Several upstreams")
	_, block, _ := strings.Cut(section, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	return strings.Replace(block, `"…"`, `"`+strings.Repeat("0", 64)+`"`, 1)
}

func TestRoutesConfig(t *testing.T) {
	ex := regexp.MustCompile(`    profile_id: .*\n`).ReplaceAllString(readmeExample(t), "") // the assume grant is another helper's
	cfg, err := Load(testkit.WriteFile(t, testkit.TempDir(t), "c.yaml", ex))
	if err != nil {
		t.Fatal(err)
	}
	routes := cfg.RouteConfigs()
	if len(routes) != 3 || routes[1].RouteName != "frankfurt" || routes[1].IdentityName != "ops" ||
		routes[1].UpstreamURL() != "https://dbaas902.hyperp-dbaas.cloud.ibm.com:20000" || routes[2].Upstream.API != APIGeneric {
		t.Fatalf("routes: %+v", routes)
	}
	if r := routes[0]; r.Upstream.Timeout != 60*time.Second || r.Auth.Source != SourceIAM || r.Auth.Timeout != 30*time.Second ||
		r.Auth.RefreshOn[0] != 401 || r.Listen != "127.0.0.1:20000" {
		t.Errorf("a route's zero keys are not their defaults: %+v %+v", r.Upstream, r.Auth)
	}
	if !routes[0].Upstream.HTTP2 {
		t.Error("a route without http2 does not take its default")
	}
	off, err := Load(testkit.WriteFile(t, testkit.TempDir(t), "c.yaml", "routes:\n  - {name: a, listen: 127.0.0.1:1, upstream: {url: \"https://h:1\", ca_file: /ca, http2: false}}\n"))
	if err != nil || off.RouteConfigs()[0].Upstream.HTTP2 {
		t.Errorf("a route's http2: false is not kept (%v)", err)
	}
	if rc := cfg.ForIdentity("readers"); rc == nil || rc.IdentityName != "readers" || rc.Auth.Source != SourceIAM {
		t.Errorf("ForIdentity(readers) = %+v", rc)
	}
	if rc := cfg.ForRoute("icd"); rc == nil || rc.ForRoute("nope") != nil {
		t.Error("ForRoute")
	}
}

func TestRoutesConfigErrors(t *testing.T) {
	const id = "identities:\n  - {name: ops, source: iam, api_key_file: /k}\n"
	const r0 = "routes:\n  - {name: a, listen: 127.0.0.1:1, identity: ops, upstream: {url: \"https://h:1\", ca_file: /ca}}\n"
	tests := []struct{ name, yaml, want string }{
		{"upstream and routes", "upstream:\n  url: https://h:1\n" + id + r0, "config.yaml:2: upstream.url: is set together with routes"},
		{"listen and routes", "listen: 127.0.0.1:5\n" + id + r0, "config.yaml:1: listen: is set together with routes"},
		{"same name", id + r0 + "  - {name: a, listen: 127.0.0.1:2, identity: ops, upstream: {url: \"https://h:1\", ca_file: /ca}}\n",
			`routes[1].name: "a" is the name of another route`},
		{"same address", id + r0 + "  - {name: b, listen: 127.0.0.1:1, identity: ops, upstream: {url: \"https://h:1\", ca_file: /ca}}\n",
			`routes[1].listen: "127.0.0.1:1" of route b is also the listen address of route a`},
		{"bad name", id + strings.Replace(r0, "name: a", "name: a_b", 1), `routes[0].name: "a_b" is not a route name`},
		{"unknown identity", id + strings.Replace(r0, "identity: ops", "identity: opz", 1), `routes[0].identity: "opz" names no identity; use one of default, ops`},
		{"identity and auth", id + strings.Replace(r0, "identity: ops", "identity: ops, auth: {source: iam}", 1), "routes[0].identity: \"ops\" is set together with auth"},
		{"generic with dbaas", "routes:\n  - {name: a, listen: 127.0.0.1:1, upstream: {url: \"https://h:1\", api: generic}}\n", "routes[0].upstream.api: generic needs an IAM token"},
		{"generic with region", id + "routes:\n  - {name: a, listen: 127.0.0.1:1, identity: ops, upstream: {region: us-south, ca_file: /ca, api: generic}}\n",
			`routes[0].upstream.region: "us-south" is set but upstream.api is generic`},
		{"bad api", "upstream:\n  url: https://h:1\n  ca_file: /ca\n  api: soap\n", `config.yaml:4: upstream.api: "soap" is not an API`},
		{"identity problem", "identities:\n  - {name: ops, source: magic}\n" + r0, `config.yaml:2: identities[0].source: "magic" is not a token source`},
		{"route auth problem", strings.Replace(r0, "identity: ops", "auth: {header: cookie}", 1), `routes[0].auth.header: "cookie" is not supported`},
		{"client identity", "upstream:\n  url: https://h:1\n  ca_file: /ca\ninbound:\n  clients:\n    - {name: ci, token_sha256: \"" + strings.Repeat("0", 64) + "\", identity: nobody}\n",
			`inbound.clients[0].identity: "nobody" names no identity`},
		{"dbaas client identity on a generic route", id + "  - {name: legacy, api_key_file: /k}\nroutes:\n  - {name: g, listen: 127.0.0.1:1, identity: ops, upstream: {url: \"https://h:1\", api: generic}}\n" +
			"inbound:\n  clients:\n    - {name: ci, token_sha256: \"" + strings.Repeat("0", 64) + "\", identity: legacy}\n",
			`inbound.clients[0].identity: "legacy" takes its token from the DBaaS Manager, but route g is generic`},
		{"route range", id + strings.Replace(r0, "ca_file: /ca", "ca_file: /ca, max_conns: -1", 1), `routes[0].upstream.max_conns: -1 is out of range; use 0 to 65536`},
		{"identity range", "identities:\n  - {name: ops, timeout: 48h}\n" + r0, `identities[0].timeout: 48h0m0s is out of range`},
		{"negative replay", "upstream:\n  url: https://h:1\n  ca_file: /ca\nauth:\n  max_replay_bytes: -2\n", "use -1 to never replay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(testkit.WriteFile(t, testkit.TempDir(t), "config.yaml", tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant %q", err, tt.want)
			}
		})
	}
}

// TestZeroMeansTheDefault: a key set to its zero value takes its default; admin.listen: ""
// alone means off; the environment cannot set routes.
func TestZeroMeansTheDefault(t *testing.T) {
	yaml := "upstream:\n  url: https://h:1\n  ca_file: /ca\n  timeout: 0s\n  max_conns: 0\nauth:\n  refresh_on: []\n  min_refresh_interval: 0s\n  iam_url: \"\"\n  max_replay_bytes: 0\nadmin:\n  listen: \"\"\n"
	cfg, err := Load(testkit.WriteFile(t, testkit.TempDir(t), "c.yaml", yaml))
	if err != nil {
		t.Fatal(err)
	}
	d := Defaults()
	if cfg.Upstream.Timeout != d.Upstream.Timeout || cfg.Upstream.MaxConns != d.Upstream.MaxConns || len(cfg.Auth.RefreshOn) != 1 ||
		cfg.Auth.MinRefreshInterval != d.Auth.MinRefreshInterval || cfg.Auth.IAMURL != d.Auth.IAMURL || cfg.Auth.MaxReplayBytes != d.Auth.MaxReplayBytes {
		t.Errorf("zero keys kept: %+v %+v", cfg.Upstream, cfg.Auth)
	}
	if cfg.Admin.Listen != "" {
		t.Errorf("admin.listen %q, want off", cfg.Admin.Listen)
	}
	p := testkit.WriteFile(t, testkit.TempDir(t), "r.yaml", "routes:\n  - {name: a, listen: 127.0.0.1:1, upstream: {url: \"https://h:1\", ca_file: /ca}}\n")
	_, err = Resolve(Sources{File: p, Environ: []string{"DBAAS_PROXY_UPSTREAM_URL=https://x:1"}})
	if err == nil || !strings.Contains(err.Error(), "environment variable DBAAS_PROXY_UPSTREAM_URL: upstream.url: is set together with routes") {
		t.Errorf("DBAAS_PROXY_UPSTREAM_URL with routes: %v", err)
	}
	_, err = Resolve(Sources{Environ: []string{"DBAAS_PROXY_ROUTES=a"}})
	if err == nil || !strings.Contains(err.Error(), "DBAAS_PROXY_ROUTES: names no config key") || !strings.Contains(err.Error(), "routes and identities are file-only") {
		t.Errorf("DBAAS_PROXY_ROUTES: %v", err)
	}
}
