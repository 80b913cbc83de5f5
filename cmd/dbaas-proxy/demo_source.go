package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
)

// demoSource sets auth.source for `demo -source`: iam and trusted_profile use the emulator's
// IAM on a listener with its own CA (written to dir), trusted_profile with a CR token file and no
// API key; vpc its metadata service; command runs `dbaas-proxy token -json` (as ibmcloud would).
func demoSource(cfg *config.Config, em *emulator.Server, dir, source string) error {
	cfg.Auth.Source = source
	switch source {
	case config.SourceDBaaS:
		return nil
	case config.SourceVPC:
		cfg.Auth.APIKeyFile, cfg.Auth.MetadataURL = "", em.MetadataURL()
		return nil
	case config.SourceCommand:
		exe, err := os.Executable()
		inner := filepath.Join(dir, "token-command.yaml")
		cfg.Auth.TokenCommand = []string{exe, "token", "-config", inner, "-json"}
		yaml := fmt.Sprintf("upstream: {url: %q, ca_file: %q}\nauth: {api_key_file: %q}\n", em.URL(), cfg.Upstream.CAFile, cfg.Auth.APIKeyFile)
		cfg.Auth.APIKeyFile = ""
		return errors.Join(err, os.WriteFile(inner, []byte(yaml), 0o600))
	case config.SourceIAM, config.SourceTrustedProfile:
	default:
		return usageErr(fmt.Errorf("demo: -source %q: use dbaas, iam, trusted_profile, vpc or command", source))
	}
	cfg.Auth.IAMURL = em.IAMURL()
	cfg.Auth.IAMCAFile = filepath.Join(dir, "iam-ca.pem")
	if err := em.WriteIAMCAFile(cfg.Auth.IAMCAFile); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if source == config.SourceIAM {
		return nil
	}
	cfg.Auth.APIKeyFile = ""
	cfg.Auth.ProfileID, _ = em.TrustedProfile()
	cfg.Auth.CRTokenFile = filepath.Join(dir, "cr-token")
	if err := os.WriteFile(cfg.Auth.CRTokenFile, []byte(em.CRToken()+"\n"), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// demoSourceLine says where the demo's token comes from, for the banner.
func demoSourceLine(cfg *config.Config, em *emulator.Server) string {
	switch cfg.Auth.Source {
	case config.SourceIAM:
		return "iam: the API key is exchanged at the emulated IBM Cloud IAM " + em.IAMURL() +
			" (its own CA), and the token is sent as Authorization: Bearer"
	case config.SourceTrustedProfile:
		return "trusted_profile: trusted profile " + cfg.Auth.ProfileID + " with the CR token in " +
			cfg.Auth.CRTokenFile + ", at the emulated IBM Cloud IAM " + em.IAMURL() + "; no API key"
	case config.SourceVPC:
		return "vpc: the emulated VPC instance metadata service " + em.MetadataURL() + "; no API key"
	case config.SourceCommand:
		return "command: `" + strings.Join(cfg.Auth.TokenCommand[1:], " ") +
			"` prints a token, as `ibmcloud iam oauth-tokens --output json` would; no API key"
	}
	return "dbaas: the API key is exchanged at the emulator's " + cfg.Auth.TokenPath
}
