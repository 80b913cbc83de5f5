package config

import (
	"cmp"
	"path/filepath"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
)

// IBMCredentialsEnv names the variable that points at IBM's SDK credentials file.
const IBMCredentialsEnv = "IBM_CREDENTIALS_FILE"

// IBMVar returns the value of IBM's SDK variable name (HPDB_APIKEY, HPDB_URL) and its source:
// the environment, else ibm-credentials.env found as IBM's SDKs do (IBM_CREDENTIALS_FILE, home
// folder, working folder). Both are "" when neither has it; the source never holds the value.
func IBMVar(getenv func(string) string, name string) (value, source string) {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v, "environment variable " + name
	}
	home := cmp.Or(getenv("HOME"), getenv("USERPROFILE"))
	for _, path := range []string{getenv(IBMCredentialsEnv), filepath.Join(home, "ibm-credentials.env"), "ibm-credentials.env"} {
		data, err := files.Read(IBMCredentialsEnv, path, 64<<10)
		if path == "" || err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && strings.TrimSpace(k) == name && strings.TrimSpace(v) != "" {
				return strings.TrimSpace(v), name + " in " + path
			}
		}
		break // the first file found is the one, as in IBM's SDKs
	}
	return "", ""
}

// applyIBM sets from IBM's variables the keys nothing else set: upstream.url (HPDB_URL less
// /api/vN), auth.metadata_url and the trusted_profile/vpc profile (a CRN if it starts crn:).
func (c *Config) applyIBM(getenv func(string) string) {
	set := func(key, value, source string) {
		if value != "" && c.SetBy(key) == "" {
			_ = c.set(key, value, source) // a string key takes any text
		}
	}
	if c.SetBy("upstream.region") == "" {
		v, source := IBMVar(getenv, "HPDB_URL")
		v, _, _ = strings.Cut(v, "/api/v")
		set("upstream.url", v, source)
	}
	set("auth.metadata_url", getenv("IBMCLOUD_CR_VPC_URL"), "environment variable IBMCLOUD_CR_VPC_URL")
	a := c.Auth
	if p := getenv("IBMCLOUD_CR_PROFILE"); (a.Source == SourceTrustedProfile || a.Source == SourceVPC) && a.ProfileID+a.ProfileCRN+a.ProfileName == "" {
		key := "auth.profile_id"
		if strings.HasPrefix(p, "crn:") {
			key = "auth.profile_crn"
		}
		set(key, p, "environment variable IBMCLOUD_CR_PROFILE")
	}
}
