package inbound

import (
	"strings"
	"testing"
	"time"
)

const goodHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" // sha256("test")

func TestValidate(t *testing.T) {
	tlsOn := TLSConfig{CertFile: "s.crt", KeyFile: "s.key", ClientCAFile: "ca.crt"}
	tests := []struct {
		name   string
		cfg    Config
		listen string
		want   []string // each must appear in the error; none: no error
	}{
		{"zero value on loopback", Config{}, "127.0.0.1:20000", nil},
		{"zero value on unix socket", Config{}, "unix:/run/p.sock", nil},
		{"gateway with tokens", Config{Clients: []Client{{Name: "a", TokenSHA256: goodHash}}}, "10.0.0.5:20000", nil},
		{"gateway with mTLS", Config{TLS: tlsOn}, "0.0.0.0:20000", nil},
		{"gateway accepted risk", Config{AllowUnauthenticatedRemote: true}, ":20000", nil},
		{"full valid", Config{
			AllowedOrigins: []string{"http://localhost:8888", "https://app.example.com"},
			AllowedHosts:   []string{"*", "proxy.internal", "10.0.0.5:20000", "[fd00::5]", "[fd00::5]:20000"},
			AllowPaths:     []string{"^/api/v3/"}, DenyPaths: []string{"/services$"},
			DenyMethods: []string{"DELETE", "patch"}, AllowCIDRs: []string{"10.0.0.0/8", "fd00::/8"},
			TLS: tlsOn, MaxBodyBytes: 1 << 20, MaxConcurrentRequests: 10, MaxHeaderBytes: 1 << 12,
			Clients: []Client{
				{Name: "a", TokenSHA256: strings.ToUpper(goodHash), ReadOnly: true, AllowPaths: []string{"^/api/"}, RatePerSecond: 0.5, Burst: 3},
				{Name: "b", CertCN: "b.example"},
			},
		}, "10.0.0.5:20000", nil},
		{"gateway without auth", Config{}, "0.0.0.0:20000", []string{
			`listen: "0.0.0.0:20000" is not a loopback address`,
			"inbound.clients with a token_sha256 each (from `dbaas-proxy hash-token`)",
			"inbound.tls.cert_file, inbound.tls.key_file and inbound.tls.client_ca_file",
			"set inbound.allow_unauthenticated_remote: true",
		}},
		{"all interfaces without auth", Config{}, ":20000", []string{`listen: ":20000" is not a loopback address`}},
		{"server TLS alone is no auth", Config{TLS: TLSConfig{CertFile: "s.crt", KeyFile: "s.key"}}, "10.0.0.5:1",
			[]string{`listen: "10.0.0.5:1" is not a loopback address`}},
		{"cert without key", Config{TLS: TLSConfig{CertFile: "s.crt"}}, "127.0.0.1:1",
			[]string{`inbound.tls.key_file: not set while inbound.tls.cert_file is "s.crt"; set both`}},
		{"key without cert", Config{TLS: TLSConfig{KeyFile: "s.key"}}, "127.0.0.1:1",
			[]string{`inbound.tls.cert_file: not set while inbound.tls.key_file is "s.key"`}},
		{"client CA without TLS", Config{TLS: TLSConfig{ClientCAFile: "ca.crt"}}, "127.0.0.1:1",
			[]string{`inbound.tls.client_ca_file: "ca.crt" is set but client certificates are asked for only over TLS`}},
		{"client with no credential", Config{Clients: []Client{{Name: "a"}}}, "127.0.0.1:1",
			[]string{"inbound.clients[0]: has neither token_sha256 nor cert_cn; set token_sha256"}},
		{"cert_cn without client CA", Config{Clients: []Client{{Name: "a", CertCN: "alice"}}}, "127.0.0.1:1",
			[]string{`inbound.clients[0].cert_cn: "alice" needs inbound.tls.client_ca_file`}},
		{"client without name", Config{Clients: []Client{{TokenSHA256: goodHash}}}, "127.0.0.1:1",
			[]string{"inbound.clients[0].name: not set"}},
		{"duplicate names", Config{Clients: []Client{{Name: "a", TokenSHA256: goodHash}, {Name: "a", CertCN: "x"}}, TLS: tlsOn}, "127.0.0.1:1",
			[]string{`inbound.clients[1].name: "a" is also the name of inbound.clients[0]; names must be unique`}},
		{"duplicate token", Config{Clients: []Client{{Name: "a", TokenSHA256: goodHash}, {Name: "b", TokenSHA256: goodHash}}}, "127.0.0.1:1",
			[]string{`inbound.clients[1].token_sha256: "` + goodHash + `" is also the token_sha256 of inbound.clients[0]`}},
		{"duplicate cn", Config{Clients: []Client{{Name: "a", CertCN: "x"}, {Name: "b", CertCN: "x"}}, TLS: tlsOn}, "127.0.0.1:1",
			[]string{`inbound.clients[1].cert_cn: "x" is also the cert_cn of inbound.clients[0]`}},
		{"token instead of hash", Config{Clients: []Client{{Name: "a", TokenSHA256: "s3cret-token"}}}, "127.0.0.1:1",
			[]string{"inbound.clients[0].token_sha256: is not a SHA-256 hash (12 characters, value not shown in case it is the token itself); use the 64 hex digits printed by `dbaas-proxy hash-token`"}},
		{"short hash", Config{Clients: []Client{{Name: "a", TokenSHA256: goodHash[:62]}}}, "127.0.0.1:1",
			[]string{"inbound.clients[0].token_sha256: is not a SHA-256 hash (62 characters"}},
		{"bad rate", Config{Clients: []Client{{Name: "a", TokenSHA256: goodHash, RatePerSecond: -1, Burst: -2}}}, "127.0.0.1:1",
			[]string{"inbound.clients[0].rate_per_second: -1 is not a rate", "inbound.clients[0].burst: -2 is out of range"}},
		{"huge rate", Config{Clients: []Client{{Name: "a", TokenSHA256: HashToken("t-0123456789abcdef0123"), RatePerSecond: 1e300, Burst: 1 << 40}}}, "127.0.0.1:1",
			[]string{"inbound.clients[0].rate_per_second: 1e+300 is not a rate", "inbound.clients[0].burst: 1099511627776 is out of range"}},
		{"burst without rate", Config{Clients: []Client{{Name: "a", TokenSHA256: goodHash, Burst: 5}}}, "127.0.0.1:1",
			[]string{"inbound.clients[0].burst: 5 is set without rate_per_second"}},
		{"bad client regexp", Config{Clients: []Client{{Name: "a", TokenSHA256: goodHash, AllowPaths: []string{"^/ok", "("}}}}, "127.0.0.1:1",
			[]string{`inbound.clients[0].allow_paths[1]: "(" is not a regular expression (Go RE2 syntax`}},
		{"bad regexps", Config{AllowPaths: []string{"^/a", "^/b", "[z-a]"}, DenyPaths: []string{"(?<x>"}}, "127.0.0.1:1", []string{
			`inbound.allow_paths[2]: "[z-a]" is not a regular expression`,
			`inbound.deny_paths[0]: "(?<x>" is not a regular expression`,
		}},
		{"bad CIDRs", Config{AllowCIDRs: []string{"10.0.0.0/8", "10.0.0.1", "300.0.0.0/8"}}, "127.0.0.1:1", []string{
			`inbound.allow_cidrs[1]: "10.0.0.1" is not a CIDR prefix; use a network such as "10.0.0.0/8"`,
			`inbound.allow_cidrs[2]: "300.0.0.0/8" is not a CIDR prefix`,
		}},
		{"bad methods", Config{DenyMethods: []string{"DELETE", "GET POST", ""}}, "127.0.0.1:1", []string{
			`inbound.deny_methods[1]: "GET POST" is not an HTTP method; use a name such as DELETE`,
			`inbound.deny_methods[2]: "" is not an HTTP method`,
		}},
		{"bad origins", Config{AllowedOrigins: []string{"http://localhost:8888/", "null", "localhost:8888", "*"}}, "127.0.0.1:1", []string{
			`inbound.allowed_origins[0]: "http://localhost:8888/" has more than scheme, host and port`,
			`inbound.allowed_origins[1]: "null" would admit sandboxed pages`,
			`inbound.allowed_origins[2]: "localhost:8888" is not an origin; use scheme://host[:port]`,
			`inbound.allowed_origins[3]: "*" is not an origin`,
		}},
		{"bad hosts", Config{AllowedHosts: []string{"http://proxy", "a b", "[::1", "fd00::1", "host:port", ""}}, "127.0.0.1:1", []string{
			`inbound.allowed_hosts[0]: "http://proxy" is not a Host value; use a host name or address with an optional port`,
			`inbound.allowed_hosts[1]: "a b" is not a Host value`,
			`inbound.allowed_hosts[2]: "[::1" is not a Host value`,
			`inbound.allowed_hosts[3]: "fd00::1" is not a Host value`,
			`inbound.allowed_hosts[4]: "host:port" is not a Host value`,
			`inbound.allowed_hosts[5]: "" is not a Host value`,
		}},
		{"positive timeouts", Config{ReadHeaderTimeout: time.Second, IdleTimeout: time.Hour}, "127.0.0.1:1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate(tt.listen)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil error, want %q", tt.want)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if lines := strings.Count(msg, "\n") + 1; lines != len(tt.want) && tt.name != "gateway without auth" {
				t.Errorf("got %d problems, want %d:\n%s", lines, len(tt.want), msg)
			}
		})
	}
}

// TestValidateNeverQuotesToken checks that a token pasted where its hash belongs stays secret.
func TestValidateNeverQuotesToken(t *testing.T) {
	const token = "dbaas-proxy-secret-token-0123456789"
	err := Config{Clients: []Client{{Name: "a", TokenSHA256: token}}}.Validate("127.0.0.1:1")
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("Validate = %v; want an error without the token", err)
	}
}

func TestHashToken(t *testing.T) {
	if got := HashToken("test"); got != goodHash {
		t.Errorf("HashToken(test) = %s, want %s", got, goodHash)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		listen string
		want   []string // substrings, one per warning, in order
	}{
		{"loopback default", Config{}, "127.0.0.1:20000", nil},
		{"gateway with auth and TLS", Config{TLS: TLSConfig{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}}, "10.0.0.5:1", nil},
		{"unauthenticated remote", Config{AllowUnauthenticatedRemote: true}, "10.0.0.5:1",
			[]string{"ANYONE WHO CAN REACH IT", `inbound.allowed_hosts is empty: only Host localhost, 127.0.0.1, [::1] and the listen address "10.0.0.5:1"`}},
		{"useless on loopback", Config{AllowUnauthenticatedRemote: true}, "127.0.0.1:1", []string{"has no effect"}},
		{"clear-text tokens", Config{Clients: []Client{{Name: "a", TokenSHA256: goodHash}}}, "10.0.0.5:1", []string{"bearer tokens travel in clear text"}},
		{"any host without auth", Config{AllowedHosts: []string{"*"}}, "127.0.0.1:1", []string{"DNS rebinding"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := warnings(tt.cfg, tt.listen)
			if len(got) != len(tt.want) {
				t.Fatalf("warnings = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
