package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// The values of auth.source: where the access token comes from.
const (
	// SourceDBaaS exchanges the API key at the DBaaS Manager's own token endpoint
	// (GET {upstream}{auth.token_path} with the header api_key). The default.
	SourceDBaaS = "dbaas"
	// SourceIAM exchanges the API key at IBM Cloud IAM ({auth.iam_url}/identity/token).
	SourceIAM = "iam"
	// SourceTrustedProfile logs in to an IAM trusted profile with the compute resource token
	// the platform mounts (auth.cr_token_file); it reads no API key.
	SourceTrustedProfile = "trusted_profile"
	// SourceVPC gets an IAM token from the VPC metadata service (auth.metadata_url); no API key.
	SourceVPC = "vpc"
	// SourceCommand takes the token from auth.token_command's output at each exchange; no API key.
	SourceCommand = "command"
)

// sources are the values of auth.source.
var sources = []string{SourceDBaaS, SourceIAM, SourceTrustedProfile, SourceVPC, SourceCommand}

// TokenEndpoint is where c's token comes from (the token path, IAM's or the metadata service's
// endpoint, or the token command), for messages and for sharing one token cache between routes.
func (c *Config) TokenEndpoint() string {
	switch c.Auth.Source {
	case SourceDBaaS:
		return strings.TrimSuffix(c.UpstreamURL(), "/") + c.Auth.TokenPath
	case SourceVPC:
		return strings.TrimSuffix(c.Auth.MetadataURL, "/") + "/instance_identity/v1/iam_token"
	case SourceCommand: // the program's name only: its arguments may hold secrets
		if len(c.Auth.TokenCommand) > 0 {
			return "the token command " + filepath.Base(c.Auth.TokenCommand[0])
		}
	}
	return strings.TrimSuffix(c.Auth.IAMURL, "/") + "/identity/token"
}

// HeaderName is the token's header, lower-case: auth.header when set, else x-auth-token for
// dbaas and authorization (Bearer, as IBM's SDKs send IAM tokens) for the other sources.
func (a *AuthConfig) HeaderName() string {
	switch {
	case a.Header != "":
		return strings.ToLower(a.Header)
	case a.Source != SourceDBaaS:
		return "authorization"
	}
	return "x-auth-token"
}

// validateSource checks auth.source and its source-only keys, their keys starting with p.
func validateSource(a AuthConfig, p string, add func(key, format string, args ...any)) {
	if !slices.Contains(sources, a.Source) {
		add(p+"source", "%q is not a token source; use dbaas (the DBaaS Manager's API-key exchange, the default), iam (IBM Cloud IAM with the API key, as IBM's SDKs do), trusted_profile (IAM with the platform's compute resource token, no API key), vpc (the VPC instance metadata service, no API key) or command (auth.token_command prints the token)", a.Source)
		return
	}
	for _, k := range []struct{ name, value, sources string }{
		{"api_key_file", a.APIKeyFile, "dbaas iam"},
		{"api_key_command", strings.Join(a.APIKeyCommand, " "), "dbaas iam"},
		{"profile_id", a.ProfileID, "iam trusted_profile vpc"},
		{"profile_crn", a.ProfileCRN, "iam trusted_profile vpc"},
		{"profile_name", a.ProfileName, "iam trusted_profile"},
		{"cr_token_file", a.CRTokenFile, "trusted_profile"},
		{"iam_ca_file", a.IAMCAFile, "iam trusted_profile"},
		{"account_id", a.AccountID, "iam trusted_profile vpc command"},
		{"token_command", strings.Join(a.TokenCommand, " "), "command"},
	} {
		if uses := strings.Fields(k.sources); k.value != "" && !slices.Contains(uses, a.Source) {
			value := fmt.Sprintf("%q", k.value)
			if strings.HasPrefix(k.name, "api_key") {
				value = "it" // the value may be the key itself, mistaken for a path
			}
			add(p+k.name, "%s is set but auth.source is %s, which does not use it; remove it, or set auth.source: %s", value, a.Source, strings.Join(uses, " or "))
		}
	}
	if base := filepath.Base(a.APIKeyFile); len(base) >= 40 && strings.Trim(base, keyChars) == "" {
		add(p+"api_key_file", "is set to what looks like an API key itself, not a file name (not shown here); put the key in a file only you can read and name the file")
	}
	profiles := len(slices.DeleteFunc([]string{a.ProfileID, a.ProfileCRN, a.ProfileName}, func(v string) bool { return v == "" }))
	switch {
	case profiles > 1:
		add(p+"profile_id", "is set together with auth.profile_crn or auth.profile_name; set only one of them")
	case a.Source == SourceTrustedProfile && profiles == 0:
		add(p+"profile_id", "not set; auth.source trusted_profile needs the trusted profile: set auth.profile_id (e.g. Profile-1b2c...), auth.profile_crn or auth.profile_name")
	case a.Source == SourceIAM && a.ProfileName != "" && a.AccountID == "":
		add(p+"account_id", "not set; the assume grant with auth.profile_name needs the account of the profile: set auth.account_id")
	case a.Source == SourceCommand && (len(a.TokenCommand) == 0 || strings.TrimSpace(a.TokenCommand[0]) == ""):
		add(p+"token_command", "not set; auth.source command needs the command that prints the token, e.g. [ibmcloud, iam, oauth-tokens, --output, json]")
	case a.Source == SourceVPC:
		if err := checkURL(a.MetadataURL, "", "the API's paths are appended", "; use http://169.254.169.254, or https://api.metadata.cloud.ibm.com with the secure protocol"); err != "" {
			add(p+"metadata_url", "%q %s", a.MetadataURL, err)
		}
	}
	if err := checkURL(a.IAMURL, "the API key or CR token would travel in clear text", "/identity/token is appended",
		"; use https://iam.cloud.ibm.com, or https://private.iam.cloud.ibm.com from a private network"); (a.Source == SourceIAM || a.Source == SourceTrustedProfile) && err != "" {
		add(p+"iam_url", "%q %s", a.IAMURL, err)
	}
	if a.AccountID != "" && strings.Trim(a.AccountID, keyChars+".") != "" {
		add(p+"account_id", "%q is not an account id; use the 32 hex digits of the IBM Cloud account (ibmcloud account show), or \"\" for the token's account.bss claim", a.AccountID)
	}
}

// keyChars are the characters of an IBM Cloud API key.
const keyChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
