package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
)

// demoSource sets auth.source for `demo -source`: iam and trusted_profile use the emulator's
// IAM, on a listener of its own with a CA of its own (written to dir, for auth.iam_ca_file);
// trusted_profile also gets the emulator's CR token in a file and no API key.
func demoSource(cfg *config.Config, em *emulator.Server, dir, source string) error {
	cfg.Auth.Source = source
	switch source {
	case config.SourceDBaaS:
		return nil
	case config.SourceIAM, config.SourceTrustedProfile:
	default:
		return usageErr(fmt.Errorf("demo: -source %q: use dbaas, iam or trusted_profile", source))
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
	}
	return "dbaas: the API key is exchanged at the emulator's " + cfg.Auth.TokenPath
}
