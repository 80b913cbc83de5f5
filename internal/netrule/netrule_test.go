package netrule

import (
	"net/url"
	"strings"
	"testing"
)

func TestIsLoopbackListen(t *testing.T) {
	tests := []struct {
		listen string
		want   bool
	}{
		{"127.0.0.1:20000", true},
		{"127.1.2.3:20000", true},
		{"[::1]:1", true},
		{"localhost:80", true},
		{"LocalHost:80", true},
		{"unix:/x", true},
		{"unix:/run/dbaas-proxy.sock", true},
		{"[::ffff:127.0.0.1]:1", true},
		{"0.0.0.0:1", false},
		{":20000", false},
		{"10.0.0.5:1", false},
		{"[::]:1", false},
		{"[fd00::1]:1", false},
		{"proxy.internal:20000", false},
		{"localhost.evil.example:1", false},
		{"127.0.0.1", false}, // no port: not a listen address
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			if got := IsLoopbackListen(tt.listen); got != tt.want {
				t.Errorf("IsLoopbackListen(%q) = %v, want %v", tt.listen, got, tt.want)
			}
		})
	}
}

func TestIsLoopbackHost(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"localhost", true}, {"LOCALHOST", true}, {"localhost.", true}, {"127.0.0.1", true},
		{"127.255.0.9", true}, {"::1", true}, {"[::1]", true}, {"::ffff:127.0.0.1", true},
		{"fe80::1%lo0", false}, {"::1%lo0", true}, {"", false}, {"0.0.0.0", false}, {"::", false},
		{"localhost.evil.example", false}, {"10.0.0.1", false}, {"[::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsLoopbackHost(tt.name); got != tt.want {
				t.Errorf("IsLoopbackHost(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestHostRule(t *testing.T) {
	lan := NewHostRule("Admin.Internal", "10.0.0.5:9090", "[fd00::5]", "")
	tests := []struct {
		name string
		rule HostRule
		host string
		want bool
	}{
		{"zero rule", HostRule{}, "localhost", false},
		{"name any port", lan, "admin.internal:1234", true},
		{"name no port", lan, "ADMIN.internal", true},
		{"name final dot", lan, "admin.internal.:1", true},
		{"host:port", lan, "10.0.0.5:9090", true},
		{"host:port other port", lan, "10.0.0.5:9091", false},
		{"host:port no port", lan, "10.0.0.5", false},
		{"ipv6 any port", lan, "[fd00::5]:1", true},
		{"ipv6 unbracketed", lan, "fd00::5", false},
		{"not listed", lan, "evil.example", false},
		{"bad port", lan, "admin.internal:x", false},
		{"loopback not implied", lan, "127.0.0.1:9090", false},
		{"loopback added", lan.WithLoopback(), "127.0.0.2:9090", true},
		{"loopback v6 added", lan.WithLoopback(), "[::1]:1", true},
		{"loopback subdomain", lan.WithLoopback(), "localhost.evil.example", false},
		{"empty refused", lan, "", false},
		{"empty added", lan.WithEmpty(), "", true},
		{"star", NewHostRule("*"), "anything:1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rule.Allow(tt.host); got != tt.want {
				t.Errorf("Allow(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestValidHost(t *testing.T) {
	for h, want := range map[string]bool{
		"*": true, "proxy.internal": true, "10.0.0.5:20000": true, "[fd00::5]:20000": true,
		"[fd00::5]": true, "": false, "a b": false, "a/b": false, "[fd00::5": false, "[x]": false,
		"host:port": false, "fd00::5": false, ":80": false, "a:123456": false,
	} {
		if got := ValidHost(h); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", h, got, want)
		}
	}
}

// TestEscapedPath pins the one form that the policy judges and the proxy forwards: a raw byte
// that net/url would escape is escaped on its own, every escape sent is kept.
func TestEscapedPath(t *testing.T) {
	tests := []struct{ sent, want string }{
		{"/api/v3/a", "/api/v3/a"},
		{`/api/v3/a"b`, "/api/v3/a%22b"},
		{`/api/v3/a%2Fb"c`, "/api/v3/a%2Fb%22c"},
		{"/api/v3/a%2fb", "/api/v3/a%2fb"},
		{"/api/v3/{x}", "/api/v3/%7Bx%7D"},
		{"/api/v3/caf\xc3\xa9", "/api/v3/caf%C3%A9"},
		{"/api/v3/%41", "/api/v3/%41"},
	}
	for _, tt := range tests {
		t.Run(tt.sent, func(t *testing.T) {
			u, err := url.ParseRequestURI(tt.sent)
			if err != nil {
				t.Fatal(err)
			}
			if got := EscapedPath(u); got != tt.want {
				t.Errorf("EscapedPath(%q) = %q, want %q", tt.sent, got, tt.want)
			}
		})
	}
}

func TestLoosePath(t *testing.T) {
	for p, want := range map[string]string{
		"/x": "/x", "/x/": "/x", "/x;a=b": "/x", "/x%20": "/x", "/x.json": "/x", "/x%00": "/x", "/x%20%09 ": "/x",
		"/a//b/": "/a/b", "/": "/", "/.hidden/..": "/.hidden/..", "/v1.2/x": "/v1/x",
	} {
		if got := LoosePath(p); got != want {
			t.Errorf("LoosePath(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestLogValue(t *testing.T) {
	long := strings.Repeat("a", 300)
	for in, want := range map[string]string{
		"curl/8.5.0": "curl/8.5.0", long: long[:256], "é": "é",
		"a\u202eb\u2066c\u061c": `a\u202eb\u2066c\u061c`, "\u0085x\x1b[31m\x7f": `\u0085x\x1b[31m\x7f`,
		"bad\xffutf8": `bad\xffutf8`, "$(rm -rf ~)\n": `$(rm -rf ~)\n`, `a"b\c`: `a\"b\\c`,
		strings.Repeat("b", 255) + "é": strings.Repeat("b", 255),
	} {
		if got := LogValue(in); got != want {
			t.Errorf("LogValue(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(10, func() { LogValue("/api/v3/me/services") }); n != 0 {
		t.Errorf("LogValue of a plain value allocates %v times", n)
	}
}
