package config

import (
	"path/filepath"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// TestIBMVariables: IBM's variables set what nothing else set, and the configuration says
// where each value came from; ours always win.
func TestIBMVariables(t *testing.T) {
	dir, home := testkit.TempDir(t), testkit.TempDir(t)
	creds := testkit.WriteFile(t, dir, "creds.env", "# IBM SDK\nHPDB_AUTH_TYPE=iam\nHPDB_URL = https://dbaas902.hyperp-dbaas.cloud.ibm.com:20000/api/v3\n")
	testkit.WriteFile(t, home, "ibm-credentials.env", "HPDB_URL=https://home.example:20000\n")
	base := []string{"DBAAS_PROXY_UPSTREAM_CA_FILE=/ca.pem", "HOME=" + filepath.Join(dir, "nowhere")}
	tests := []struct {
		name              string
		env               []string
		key, want, source string
	}{
		{"HPDB_URL from the environment", []string{"HPDB_URL=https://h.example:20000/api/v3/"}, "upstream.url", "https://h.example:20000", "environment variable HPDB_URL"},
		{"HPDB_URL from IBM_CREDENTIALS_FILE", []string{"IBM_CREDENTIALS_FILE=" + creds}, "upstream.url",
			"https://dbaas902.hyperp-dbaas.cloud.ibm.com:20000", "HPDB_URL in " + creds},
		{"HPDB_URL from the home folder", []string{"HOME=" + home}, "upstream.url", "https://home.example:20000",
			"HPDB_URL in " + filepath.Join(home, "ibm-credentials.env")},
		{"the environment before the file", []string{"IBM_CREDENTIALS_FILE=" + creds, "HPDB_URL=https://env.example:1"}, "upstream.url",
			"https://env.example:1", "environment variable HPDB_URL"},
		{"ours before HPDB_URL", []string{"HPDB_URL=https://h.example:1", "DBAAS_PROXY_UPSTREAM_URL=https://ours.example:2"}, "upstream.url",
			"https://ours.example:2", "environment variable DBAAS_PROXY_UPSTREAM_URL"},
		{"IBMCLOUD_CR_VPC_URL", []string{"HPDB_URL=https://h:1", "DBAAS_PROXY_AUTH_SOURCE=vpc", "IBMCLOUD_CR_VPC_URL=https://api.metadata.cloud.ibm.com"},
			"auth.metadata_url", "https://api.metadata.cloud.ibm.com", "environment variable IBMCLOUD_CR_VPC_URL"},
		{"IBMCLOUD_CR_PROFILE as an id", []string{"HPDB_URL=https://h:1", "DBAAS_PROXY_AUTH_SOURCE=trusted_profile", "IBMCLOUD_CR_PROFILE=Profile-1"},
			"auth.profile_id", "Profile-1", "environment variable IBMCLOUD_CR_PROFILE"},
		{"IBMCLOUD_CR_PROFILE as a CRN", []string{"HPDB_URL=https://h:1", "DBAAS_PROXY_AUTH_SOURCE=vpc", "IBMCLOUD_CR_PROFILE=crn:v1:p"},
			"auth.profile_crn", "crn:v1:p", "environment variable IBMCLOUD_CR_PROFILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Resolve(Sources{Environ: append(append([]string{}, base...), tt.env...)})
			if err != nil {
				t.Fatal(err)
			}
			if got, src := cfg.Value(tt.key), cfg.Source(tt.key); got != tt.want || src != tt.source {
				t.Errorf("%s = %q from %q, want %q from %q", tt.key, got, src, tt.want, tt.source)
			}
		})
	}
}
