package config

import "strings"

// The values of auth.source: where the access token comes from.
const (
	// SourceDBaaS exchanges the API key at the DBaaS Manager's own token endpoint
	// (GET {upstream}{auth.token_path} with the header api_key). The default.
	SourceDBaaS = "dbaas"
	// SourceIAM exchanges the API key at IBM Cloud IAM (POST {auth.iam_url}/identity/token),
	// as IBM's SDKs do.
	SourceIAM = "iam"
	// SourceTrustedProfile logs in to an IAM trusted profile with the compute resource token
	// the platform mounts (auth.cr_token_file); it reads no API key.
	SourceTrustedProfile = "trusted_profile"
)

// UsesIAM reports whether the token comes from IBM Cloud IAM (auth.source iam or
// trusted_profile).
func (a *AuthConfig) UsesIAM() bool {
	return a.Source == SourceIAM || a.Source == SourceTrustedProfile
}

// TokenEndpoint is where the token of c's auth comes from: the DBaaS Manager's token path
// (auth.source dbaas), else IAM's token endpoint.
func (c *Config) TokenEndpoint() string {
	if c.Auth.Source == SourceDBaaS {
		return strings.TrimSuffix(c.UpstreamURL(), "/") + c.Auth.TokenPath
	}
	return strings.TrimSuffix(c.Auth.IAMURL, "/") + "/identity/token"
}

// HeaderName is the header the token is attached in, lower-case: auth.header when set, else
// by auth.source: x-auth-token for dbaas, authorization (Authorization: Bearer, as IBM's SDKs
// send an IAM token) for iam and trusted_profile. This is the one home of that rule.
func (a *AuthConfig) HeaderName() string {
	switch {
	case a.Header != "":
		return strings.ToLower(a.Header)
	case a.UsesIAM():
		return "authorization"
	}
	return "x-auth-token"
}

// validateSource checks auth.source and the keys that belong to one source only.
func validateSource(a AuthConfig, add func(key, format string, args ...any)) {
	// notFor reports each of keys that is set although it does not belong to auth.source.
	type key struct{ name, value string }
	profileKeys := []key{{"auth.profile_id", a.ProfileID}, {"auth.profile_name", a.ProfileName}, {"auth.cr_token_file", a.CRTokenFile}}
	iamKeys := []key{{"auth.iam_ca_file", a.IAMCAFile}, {"auth.account_id", a.AccountID}}
	notFor := func(keys []key, why string) {
		for _, k := range keys {
			if k.value != "" {
				add(k.name, "%q is set but auth.source is %s: %s", k.value, a.Source, why)
			}
		}
	}
	switch a.Source {
	case SourceDBaaS:
		notFor(profileKeys, "it is for auth.source trusted_profile; remove it, or set auth.source: trusted_profile")
		notFor(iamKeys, "it is for auth.source iam or trusted_profile (the DBaaS exchange returns the account id itself); remove it, or set auth.source: iam")
		return
	case SourceIAM:
		notFor(profileKeys, "it is for auth.source trusted_profile; remove it, or set auth.source: trusted_profile (which uses no API key)")
	case SourceTrustedProfile:
		if a.APIKeyFile != "" {
			add("auth.api_key_file", "%q is set but auth.source trusted_profile uses no API key; remove it, or set auth.source: iam", a.APIKeyFile)
		}
		switch {
		case a.ProfileID == "" && a.ProfileName == "":
			add("auth.profile_id", "not set; auth.source trusted_profile needs the trusted profile: set auth.profile_id (e.g. Profile-1b2c...) or auth.profile_name")
		case a.ProfileID != "" && a.ProfileName != "":
			add("auth.profile_name", "%q is set together with auth.profile_id; set only one of them", a.ProfileName)
		}
	default:
		add("auth.source", "%q is not a token source; use dbaas (the DBaaS Manager's API-key exchange, the default), iam (IBM Cloud IAM with the API key, as IBM's SDKs do) or trusted_profile (IAM with the platform's compute resource token, no API key)", a.Source)
		return
	}
	if err := checkURL(a.IAMURL, "the API key or CR token would travel in clear text", "/identity/token is appended",
		"; use https://iam.cloud.ibm.com, or https://private.iam.cloud.ibm.com from a private network"); err != "" {
		add("auth.iam_url", "%q %s", a.IAMURL, err)
	}
	if a.AccountID != "" && strings.Trim(a.AccountID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
		add("auth.account_id", "%q is not an account id; use the 32 hex digits of the IBM Cloud account (ibmcloud account show), or \"\" for the token's account.bss claim", a.AccountID)
	}
}
