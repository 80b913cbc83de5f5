package config

import (
	"os"
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// TestSourceErrors: each misuse of auth.source and its keys is named by key, with the fix,
// and only that key (a valid config gives no problem).
func TestSourceErrors(t *testing.T) {
	const good = "upstream:\n  url: https://127.0.0.1:20000\n  ca_file: /ca.pem\nauth:\n"
	tests := []struct {
		name string
		auth string
		want []string // each must appear in the error; none means no error
	}{
		{"dbaas is the default", "  api_key_file: /k\n", nil},
		{"iam", "  source: iam\n  api_key_file: /k\n  account_id: 0123456789abcdef0123456789abcdef\n", nil},
		{"private iam", "  source: iam\n  iam_url: https://private.iam.cloud.ibm.com/\n", nil},
		{"trusted profile by id", "  source: trusted_profile\n  profile_id: Profile-1\n  cr_token_file: /cr\n", nil},
		{"trusted profile by name", "  source: trusted_profile\n  profile_name: p\n  iam_ca_file: /iam.pem\n", nil},
		{"unknown source", "  source: IAM\n",
			[]string{"config.yaml:5: auth.source:", `"IAM"`, "dbaas", "iam", "trusted_profile"}},
		{"assume grant by id", "  source: iam\n  profile_id: Profile-1\n", nil},
		{"assume grant by crn", "  source: iam\n  profile_crn: crn:v1:p\n", nil},
		{"assume grant by name", "  source: iam\n  profile_name: p\n  account_id: abc\n", nil},
		{"assume grant by name without the account", "  source: iam\n  profile_name: p\n",
			[]string{"auth.account_id: not set", "auth.profile_name"}},
		{"profile name with dbaas", "  profile_name: p\n",
			[]string{"config.yaml:5: auth.profile_name:", "auth.source is dbaas", "set auth.source: iam or trusted_profile"}},
		{"cr token file with iam", "  source: iam\n  cr_token_file: /cr\n",
			[]string{"config.yaml:6: auth.cr_token_file:", "set auth.source: trusted_profile"}},
		{"account id with dbaas", "  account_id: abc\n",
			[]string{"config.yaml:5: auth.account_id:", "auth.source is dbaas", "set auth.source: iam"}},
		{"iam ca file with dbaas", "  iam_ca_file: /iam.pem\n",
			[]string{"config.yaml:5: auth.iam_ca_file:", "auth.source is dbaas"}},
		{"neither profile key", "  source: trusted_profile\n",
			[]string{"auth.profile_id: not set", "auth.profile_name", "auth.profile_crn"}},
		{"both profile keys", "  source: trusted_profile\n  profile_id: Profile-1\n  profile_name: p\n",
			[]string{"config.yaml:6: auth.profile_id:", "only one"}},
		{"api key with trusted profile", "  source: trusted_profile\n  profile_name: p\n  api_key_file: /k\n",
			[]string{"config.yaml:7: auth.api_key_file:", "auth.source is trusted_profile, which does not use it", "set auth.source: dbaas or iam"}},
		{"command", "  source: command\n  token_command: [ibmcloud, iam, oauth-tokens, --output, json]\n", nil},
		{"command without token_command", "  source: command\n",
			[]string{"auth.token_command: not set", "ibmcloud, iam, oauth-tokens"}},
		{"token_command with iam", "  source: iam\n  token_command: [x]\n",
			[]string{"config.yaml:6: auth.token_command:", "set auth.source: command"}},
		{"vpc", "  source: vpc\n  profile_crn: crn:v1:p\n  metadata_url: https://api.metadata.cloud.ibm.com\n", nil},
		{"vpc by default", "  source: vpc\n", nil},
		{"vpc with a profile name", "  source: vpc\n  profile_name: p\n",
			[]string{"config.yaml:6: auth.profile_name:", "auth.source is vpc"}},
		{"vpc with a bad metadata url", "  source: vpc\n  metadata_url: 169.254.169.254\n",
			[]string{"config.yaml:6: auth.metadata_url:", "http://169.254.169.254"}},
		{"an API key given as the key file is not echoed", "  api_key_file: Zx9secretAPIkey_0123456789abcdefghijklmnopq\n",
			[]string{"auth.api_key_file: is set to what looks like an API key itself"}},
		{"an API key given as the key file with vpc", "  source: vpc\n  api_key_file: Zx9secretAPIkey_0123456789abcdefghijklmnopq\n",
			[]string{"auth.api_key_file: it is set"}},
		{"http iam url", "  source: iam\n  iam_url: http://iam.cloud.ibm.com\n",
			[]string{"config.yaml:6: auth.iam_url:", `"http://iam.cloud.ibm.com"`, "https://", "clear text", "private.iam.cloud.ibm.com"}},
		{"iam url with the token path", "  source: iam\n  iam_url: https://iam.cloud.ibm.com/identity/token\n",
			[]string{"config.yaml:6: auth.iam_url:", "no path", "/identity/token is appended"}},
		{"empty iam url is the default", "  source: trusted_profile\n  profile_name: p\n  iam_url: \"\"\n", nil},
		{"account id with a slash", "  source: iam\n  account_id: a/b\n",
			[]string{"config.yaml:6: auth.account_id:", `"a/b"`, "hex digits"}},
		{"header empty is by source", "  source: iam\n  header: \"\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testkit.WriteFile(t, testkit.TempDir(t), "config.yaml", good+tt.auth)
			_, err := Load(p)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Load = %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "Zx9secret") {
				t.Errorf("the error echoes the API key: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// TestHeaderName: auth.header "" means x-auth-token for dbaas and Authorization: Bearer for
// the IAM sources; an explicit header wins.
func TestHeaderName(t *testing.T) {
	tests := []struct{ source, header, want string }{
		{SourceDBaaS, "", "x-auth-token"},
		{SourceIAM, "", "authorization"},
		{SourceTrustedProfile, "", "authorization"},
		{SourceVPC, "", "authorization"},
		{SourceCommand, "", "authorization"},
		{SourceIAM, "X-Auth-Token", "x-auth-token"},
		{SourceDBaaS, "Authorization", "authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.source+"/"+tt.header, func(t *testing.T) {
			a := AuthConfig{Source: tt.source, Header: tt.header}
			if got := a.HeaderName(); got != tt.want {
				t.Errorf("HeaderName() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestExampleShowsSourceDefaults: config.example.yaml lists the identity keys with their
// defaults.
func TestExampleShowsSourceDefaults(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Decode("config.example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	d := Defaults()
	got, want := cfg.Auth, d.Auth
	if got.Source != want.Source || got.IAMURL != want.IAMURL || got.Header != want.Header ||
		got.IAMCAFile != "" || got.CRTokenFile != "" || got.ProfileID != "" || got.ProfileName != "" || got.AccountID != "" {
		t.Errorf("the example's auth section = %+v, want the defaults %+v", got, want)
	}
	for _, key := range []string{"source:", "iam_url:", "iam_ca_file:", "cr_token_file:", "profile_id:", "profile_name:", "account_id:"} {
		if !strings.Contains(string(data), "\n  "+key) {
			t.Errorf("config.example.yaml does not show auth.%s", strings.TrimSuffix(key, ":"))
		}
	}
}
