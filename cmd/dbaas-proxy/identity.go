package main

import (
	"net/http"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
)

// sourceDetail describes auth.source for doctor's "source" line; never a secret.
func sourceDetail(cfg *config.Config) string {
	a := cfg.Auth
	switch a.Source {
	case config.SourceIAM:
		return "iam: the API key is exchanged at IBM Cloud IAM " + a.IAMURL
	case config.SourceTrustedProfile:
		profile := "profile_id " + a.ProfileID
		if a.ProfileID == "" {
			profile = "profile_name " + a.ProfileName
		}
		crFile := a.CRTokenFile
		if crFile == "" {
			crFile = "the platform's default path"
		}
		return "trusted_profile: " + profile + " at IBM Cloud IAM " + a.IAMURL + ", CR token from " + crFile
	}
	return "dbaas: the API key is exchanged at the DBaaS Manager (" + a.TokenPath + ")"
}

// setToken attaches the token as the proxy does: in auth.header, by source by default.
func setToken(h http.Header, cfg *config.Config, token string) {
	if cfg.Auth.HeaderName() == "authorization" {
		h.Set("Authorization", "Bearer "+token)
		return
	}
	h.Set("X-Auth-Token", token)
}
