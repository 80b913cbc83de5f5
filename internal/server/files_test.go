package server

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

func TestMissingFilesAreNamed(t *testing.T) {
	dir := testkit.TempDir(t)
	missing := filepath.Join(dir, "nope", "ca.pem")
	if _, err := upstream.ReadCA(missing); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "upstream.ca_file") {
		t.Errorf("ReadCA(missing) = %v, want the key and the path named", err)
	}
	notPEM := testkit.WriteFile(t, dir, "ca.pem", "hello")
	if _, err := upstream.ReadCA(notPEM); err == nil || !strings.Contains(err.Error(), notPEM) || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("ReadCA(not PEM) = %v", err)
	}
	keyPath := filepath.Join(dir, "no-key.json")
	if _, err := newKeyStore(config.AuthConfig{APIKeyFile: keyPath}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), keyPath) {
		t.Errorf("newKeyStore(missing) = %v, want the path named", err)
	}
	if _, err := newKeyStore(config.AuthConfig{}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), APIKeyEnv) {
		t.Errorf("newKeyStore(no key) = %v, want %s named", err, APIKeyEnv)
	}
}
