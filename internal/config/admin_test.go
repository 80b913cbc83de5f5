package config

import (
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
)

func TestAdminConfigValidate(t *testing.T) {
	const token = "a-client-token-0123456789"
	hash := inbound.HashToken(token)
	tests := []struct {
		name string
		cfg  AdminConfig
		want []string // substrings of the error; none: valid
	}{
		{"zero", AdminConfig{}, nil},
		{"remote with clients", AdminConfig{Listen: "0.0.0.0:9090", Clients: []inbound.Client{{Name: "ops", TokenSHA256: hash}}}, nil},
		{"bad host", AdminConfig{AllowedHosts: []string{"a/b"}}, []string{"admin.allowed_hosts[0]"}},
		{"no name", AdminConfig{Clients: []inbound.Client{{TokenSHA256: hash}}}, []string{"admin.clients[0].name"}},
		{"no hash", AdminConfig{Clients: []inbound.Client{{Name: "ops"}}}, []string{"admin.clients[0].token_sha256: not set"}},
		{"token pasted", AdminConfig{Clients: []inbound.Client{{Name: "ops", TokenSHA256: token}}}, []string{"admin.clients[0].token_sha256: is not a SHA-256"}},
		{"duplicates", AdminConfig{Clients: []inbound.Client{{Name: "a", TokenSHA256: hash}, {Name: "a", TokenSHA256: hash}}},
			[]string{"admin.clients[1].name", "admin.clients[1].token_sha256", "admin.clients[0]"}},
		{"inbound-only fields", AdminConfig{Clients: []inbound.Client{{Name: "a", TokenSHA256: hash, ReadOnly: true}}}, []string{"does not use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults()
			cfg.Upstream.URL, cfg.Upstream.CAFile, cfg.Admin = "https://h:1", "/ca", tt.cfg
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), token) {
				t.Error("the error quotes the pasted token")
			}
		})
	}
}
