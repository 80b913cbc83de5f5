package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// helperArg makes the test binary, run again as a token command, print a file ("cat FILE")
// or write SECRET to stderr and exit 3 ("fail SECRET"): a command that works on every system.
const helperArg = "server-command-helper"

func commandHelper(args []string) {
	switch args[0] {
	case "cat":
		data, _ := os.ReadFile(args[1])
		os.Stdout.Write(data)
	case "fail":
		fmt.Fprint(os.Stderr, "refresh token "+args[1])
		os.Exit(3)
	}
}

func helperCommand(t *testing.T, args ...string) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{exe, helperArg}, args...)
}

// bearerSeen returns the Authorization headers that reached the account's services.
func (h *harness) bearerSeen() []string {
	var out []string
	for _, a := range h.arrivals("/api/v3/" + h.em.UserID() + "/services") {
		out = append(out, a.Header.Get("Authorization"))
	}
	return out
}

// TestCommandSource: auth.source command end to end: the token the command prints (as the
// IBM Cloud CLI does) is attached as Bearer; after the token is revoked and the command
// prints a new one, the proxy runs it again and the request succeeds with the new token.
func TestCommandSource(t *testing.T) {
	dir := testkit.TempDir(t)
	out := filepath.Join(dir, "oauth-tokens.json")
	h := newSourceHarness(t, config.SourceCommand, Options{}, func(c *config.Config, em *emulator.Server) {
		testkit.WriteFile(t, dir, "oauth-tokens.json", `{"iam_token": "Bearer `+em.IssueToken()+`", "uaa_token": "x"}`)
		c.Auth.TokenCommand = helperCommand(t, "cat", out)
	})
	h.serve(t)
	h.ready(t)
	if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
		t.Fatalf("GET = %d %s", code, body)
	}
	h.em.RevokeAll() // the user logs in again: a new token, the old one refused
	fresh := h.em.IssueToken()
	testkit.WriteFile(t, dir, "oauth-tokens.json", "Bearer "+fresh+"\n")
	if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
		t.Fatalf("GET after the rotation = %d %s", code, body)
	}
	seen := h.bearerSeen()
	if last := seen[len(seen)-1]; last != "Bearer "+fresh {
		t.Errorf("the upstream last saw %.20q, want the command's new token", last)
	}
	if !strings.Contains(h.srv.APIKeySource(), "auth.token_command") {
		t.Errorf("credential source %q does not name auth.token_command", h.srv.APIKeySource())
	}
}

// TestCommandSourceFails: a failing token command makes readiness 503 naming the command and
// its exit status; what it wrote to stderr appears nowhere.
func TestCommandSourceFails(t *testing.T) {
	const secret = "rt-0123456789-secret-on-stderr"
	h := newSourceHarness(t, config.SourceCommand, Options{}, func(c *config.Config, _ *emulator.Server) {
		c.Auth.TokenCommand = helperCommand(t, "fail", secret)
	})
	h.serve(t)
	var body string
	eventually(t, "readyz 503 naming the command", func() bool {
		var code int
		code, body = get(t, h.admin("/readyz"))
		return code == 503 && strings.Contains(body, "exit status 3")
	})
	if code, _ := get(t, h.url("/api/v3/me/services")); code == 200 {
		t.Errorf("GET answered 200 without a token")
	}
	_, page := get(t, h.admin("/"))
	if err := h.stop(t); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body+page+h.logs.String(), secret) {
		t.Errorf("the command's stderr shows in readiness, the status page or the logs")
	}
}

// TestVPCSource: auth.source vpc end to end, with the instance's default profile, the
// profile's id and its CRN; a profile the instance is not linked to, and a disabled metadata
// service, keep the proxy unready and send nothing upstream; a revoked token is replaced
// through the metadata service.
func TestVPCSource(t *testing.T) {
	tests := []struct {
		name    string
		profile func(*config.Config, *emulator.Server)
		want    string // in readyz; "" means ready
	}{
		{"default profile", func(*config.Config, *emulator.Server) {}, ""},
		{"profile id", func(c *config.Config, em *emulator.Server) { c.Auth.ProfileID, _ = em.TrustedProfile() }, ""},
		{"profile crn", func(c *config.Config, em *emulator.Server) { c.Auth.ProfileCRN = em.TrustedProfileCRN() }, ""},
		{"unlinked profile", func(c *config.Config, _ *emulator.Server) { c.Auth.ProfileID = "Profile-other" }, "trusted_profile_not_linked"},
		{"disabled", func(_ *config.Config, em *emulator.Server) { em.SetMetadataDisabled(true) }, "metadata service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSourceHarness(t, config.SourceVPC, Options{}, tt.profile)
			h.serve(t)
			if tt.want != "" {
				eventually(t, "readyz 503 naming "+tt.want, func() bool {
					code, body := get(t, h.admin("/readyz"))
					return code == 503 && strings.Contains(body, tt.want)
				})
				if n := len(h.bearerSeen()); n != 0 {
					t.Errorf("%d requests reached the upstream without a token", n)
				}
				return
			}
			h.ready(t)
			h.em.RevokeAll()
			if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
				t.Fatalf("GET after a revocation = %d %s", code, body)
			}
			if n := h.em.MetadataCalls(); n != 4 {
				t.Errorf("%d metadata calls, want 4 (two exchanges of two calls)", n)
			}
			if seen := h.bearerSeen(); len(seen) != 2 || !strings.HasPrefix(seen[1], "Bearer ey") || seen[0] == seen[1] {
				t.Errorf("the upstream saw %d requests; want the old and then a new Bearer token", len(seen))
			}
		})
	}
}

// TestAssumeSource: auth.source iam with a profile trades the API key's token for the
// profile's, with each way of naming it; an unknown profile is IAM's BXNIM0467E in readiness.
func TestAssumeSource(t *testing.T) {
	tests := []struct {
		name    string
		profile func(*config.Config, *emulator.Server)
		want    string
	}{
		{"profile_id", func(c *config.Config, em *emulator.Server) { c.Auth.ProfileID, _ = em.TrustedProfile() }, ""},
		{"profile_crn", func(c *config.Config, em *emulator.Server) { c.Auth.ProfileCRN = em.TrustedProfileCRN() }, ""},
		{"profile_name", func(c *config.Config, em *emulator.Server) {
			_, c.Auth.ProfileName = em.TrustedProfile()
			c.Auth.AccountID = em.UserID()
		}, ""},
		{"unknown profile", func(c *config.Config, _ *emulator.Server) { c.Auth.ProfileID = "Profile-unknown" }, emulator.IAMCodeNoProfile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSourceHarness(t, config.SourceIAM, Options{}, tt.profile)
			h.serve(t)
			if tt.want != "" {
				eventually(t, "readyz 503 naming "+tt.want, func() bool {
					code, body := get(t, h.admin("/readyz"))
					return code == 503 && strings.Contains(body, tt.want)
				})
				return
			}
			h.ready(t)
			h.em.RevokeAll() // the profile's token is refused: both grants run again
			if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
				t.Fatalf("GET after a revocation = %d %s", code, body)
			}
			if c := h.em.Counters(); c.IAMExchanges != 4 {
				t.Errorf("%d IAM exchanges, want 4 (twice the API key's grant, then the assume grant)", c.IAMExchanges)
			}
		})
	}
}

// TestCRTokenVariable: IBMCLOUD_CR_TOKEN gives trusted_profile its CR token, as the token or
// as @FILE, and the startup line names the variable, never the token.
func TestCRTokenVariable(t *testing.T) {
	for _, form := range []string{"value", "@FILE"} {
		t.Run(form, func(t *testing.T) {
			var env string
			getenv := func(name string) string {
				if name == crTokenEnv {
					return env
				}
				return ""
			}
			h := newSourceHarness(t, config.SourceTrustedProfile, Options{Getenv: getenv}, func(c *config.Config, em *emulator.Server) {
				c.Auth.CRTokenFile = ""
				env = em.CRToken()
				if form == "@FILE" {
					env = "@" + testkit.WriteFile(t, testkit.TempDir(t), "cr", em.CRToken())
				}
			})
			h.serve(t)
			h.ready(t)
			if err := h.stop(t); err != nil {
				t.Fatal(err)
			}
			logs := h.logs.String()
			if !strings.Contains(logs, `"credential":"environment variable IBMCLOUD_CR_TOKEN`) || strings.Contains(logs, h.em.CRToken()) {
				t.Errorf("the startup line does not name IBMCLOUD_CR_TOKEN, or shows the token")
			}
		})
	}
}

// TestIBMKeyVariables: after our own sources, IBMCLOUD_API_KEY as the key or @FILE (read like
// auth.api_key_file, reloaded with it), then HPDB_APIKEY from the environment or
// ibm-credentials.env; the source names each, never the key.
func TestIBMKeyVariables(t *testing.T) {
	dir := testkit.TempDir(t)
	file := testkit.WriteFile(t, dir, "apikey.json", `{"name":"k","apiKey":"`+keyA+`"}`)
	creds := testkit.WriteFile(t, dir, "ibm-credentials.env", "HPDB_AUTH_TYPE=iam\nHPDB_APIKEY="+keyB+"\n")
	tests := []struct {
		name       string
		env        map[string]string
		key, where string
	}{
		{"IBMCLOUD_API_KEY=@FILE", map[string]string{IBMCloudAPIKeyEnv: "@" + file, "HPDB_APIKEY": keyC}, keyA,
			"environment variable IBMCLOUD_API_KEY (@" + file + ")"},
		{"DBAAS_API_KEY before IBMCLOUD_API_KEY=@FILE", map[string]string{APIKeyEnv: keyD, IBMCloudAPIKeyEnv: "@" + file}, keyD,
			"environment variable DBAAS_API_KEY"},
		{"HPDB_APIKEY", map[string]string{"HPDB_APIKEY": keyC, config.IBMCredentialsEnv: creds}, keyC, "environment variable HPDB_APIKEY"},
		{"ibm-credentials.env", map[string]string{config.IBMCredentialsEnv: creds}, keyB, "HPDB_APIKEY in " + creds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := newKeyStore(config.AuthConfig{}, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if key, _ := ks.Key(); key != tt.key || ks.source() != tt.where {
				t.Errorf("key %q from %q, want %q from %q", key, ks.source(), tt.key, tt.where)
			}
		})
	}
	t.Run("@FILE is reloaded", func(t *testing.T) {
		ks, err := newKeyStore(config.AuthConfig{}, func(k string) string { return map[string]string{IBMCloudAPIKeyEnv: "@" + file}[k] })
		if err != nil {
			t.Fatal(err)
		}
		testkit.WriteFile(t, dir, "apikey.json", keyD)
		if changed, err := ks.reload(); !changed || err != nil {
			t.Errorf("reload = %v, %v; want the new key", changed, err)
		}
	})
}

// TestKeyGivenAsPath: an API key given where a file name belongs is not echoed in the error.
func TestKeyGivenAsPath(t *testing.T) {
	const key = "Zx9-secretAPIkey_0123456789abcdefghijklmnopq"
	for _, auth := range []struct {
		cfg config.AuthConfig
		env string
	}{{config.AuthConfig{APIKeyFile: key}, ""}, {config.AuthConfig{}, "@" + key}} {
		_, err := newKeyStore(auth.cfg, func(k string) string {
			if k == IBMCloudAPIKeyEnv {
				return auth.env
			}
			return ""
		})
		if err == nil || strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "looks like a key") {
			t.Errorf("error %v: want one that does not echo the key and says it looks like one", err)
		}
	}
}
