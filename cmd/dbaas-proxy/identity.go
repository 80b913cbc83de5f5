package main

import (
	"cmp"
	"errors"
	"net/http"
	"path/filepath"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// sourceDetail describes auth.source for doctor's "source" line; never a secret.
func sourceDetail(cfg *config.Config) string {
	a := cfg.Auth
	profile := ""
	for key, v := range map[string]string{"profile_id": a.ProfileID, "profile_crn": a.ProfileCRN, "profile_name": a.ProfileName} {
		if v != "" {
			profile = ", trusted profile " + key + " " + v
		}
	}
	switch a.Source {
	case config.SourceIAM:
		if profile != "" {
			profile += " (assume grant)"
		}
		return "iam: the API key is exchanged at IBM Cloud IAM " + a.IAMURL + profile
	case config.SourceTrustedProfile:
		return "trusted_profile: IBM Cloud IAM " + a.IAMURL + profile + ", CR token from " +
			cmp.Or(a.CRTokenFile, "IBMCLOUD_CR_TOKEN or the platform's default path")
	case config.SourceVPC:
		return "vpc: the VPC instance metadata service " + a.MetadataURL + profile
	case config.SourceCommand:
		return "command: " + filepath.Base(a.TokenCommand[0]) + " (auth.token_command) prints the token"
	}
	return "dbaas: the API key is exchanged at the DBaaS Manager (" + a.TokenPath + ")"
}

// credentialCheck names doctor's check of what NewTokenSource reads: the API key, or the setup.
func credentialCheck(cfg *config.Config) string {
	switch cfg.Auth.Source {
	case config.SourceDBaaS, config.SourceIAM:
		return "api_key"
	case config.SourceTrustedProfile:
		return "iam_setup"
	}
	return "setup"
}

// metadataHint says why the metadata service may not answer (source vpc, no answer); else "".
func metadataHint(cfg *config.Config, err error) string {
	var xe *tokensource.ExchangeError
	if cfg.Auth.Source != config.SourceVPC || err == nil || errors.As(err, &xe) && xe.Status != 0 {
		return ""
	}
	return "the VPC instance metadata service did not answer at " + cfg.Auth.MetadataURL + ". It is off by default: " +
		"turn it on in the instance's settings (metadata service), and set auth.metadata_url to " +
		"https://api.metadata.cloud.ibm.com if it uses the secure protocol"
}

// setToken attaches the token as the proxy does: in auth.header, by source by default.
func setToken(h http.Header, cfg *config.Config, token string) {
	if cfg.Auth.HeaderName() == "authorization" {
		h.Set("Authorization", "Bearer "+token)
		return
	}
	h.Set("X-Auth-Token", token)
}
