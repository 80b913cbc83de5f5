package main

// End-to-end tests of auth.source in the commands: demo -source, token and doctor with the IAM
// sources, against the emulator's separate IAM over real loopback TLS.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// TestDemoSource: `demo -source iam` (and trusted_profile, vpc, command) serves, says which
// source it uses, and every curl line it prints works as printed (GET, 200); the local token
// endpoint answers the emulator's account.
func TestDemoSource(t *testing.T) {
	for _, source := range []string{"iam", "trusted_profile", "vpc", "command"} {
		t.Run(source, func(t *testing.T) {
			listen, admin := freeAddr(t), freeAddr(t)
			var out, errOut testkit.SyncBuffer
			sys := system{
				stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
				getenv:  func(string) string { return "" },
				signals: func() (<-chan os.Signal, func()) { return nil, func() {} },
				exit:    func(c int) { t.Errorf("demo called exit(%d)", c) },
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan int, 1)
			go func() {
				done <- runMain(ctx, []string{"demo", "-source", source, "-listen", listen, "-admin-listen", admin, "-log-level", "warn"}, sys)
			}()
			deadline := time.Now().Add(15 * time.Second)
			for !strings.Contains(out.String(), "Press Ctrl-C") {
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("no banner within 15 s; stdout %q, stderr %q", out.String(), errOut.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			banner := out.String()
			if !strings.Contains(banner, "token source is "+source+":") {
				t.Errorf("the banner does not name the source %s:\n%s", source, banner)
			}
			curls := regexp.MustCompile(`(?m)^  curl -s (\S+)$`).FindAllStringSubmatch(banner, -1)
			if len(curls) != 4 {
				t.Fatalf("%d curl lines, want 4:\n%s", len(curls), banner)
			}
			for _, c := range curls {
				url := c[1]
				var code int
				var body string
				// readyz turns 200 when the first IAM token has arrived; the others wait for it.
				deadline := time.Now().Add(15 * time.Second)
				for code, body = get(t, url); code != 200 && time.Now().Before(deadline); code, body = get(t, url) {
					time.Sleep(20 * time.Millisecond)
				}
				if code != 200 {
					t.Errorf("curl -s %s = %d %s", url, code, body)
				}
				if strings.HasSuffix(url, "/auth/token") && !regexp.MustCompile(`"user_id":\s*"[0-9a-f]{32}"`).MatchString(body) {
					t.Errorf("the local token endpoint answered %s, want the account's user_id", body)
				}
			}
			cancel()
			select {
			case code := <-done:
				if code != exitOK {
					t.Errorf("demo = %d after the stop; stderr %s", code, errOut.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatal("demo did not stop within 20 s of the cancel")
			}
		})
	}
}

// identityEnv is an emulator with a separate IAM and a config file for source.
type identityEnv struct {
	em      *emulator.Server
	config  string
	secrets []string // what must never be printed: the API key, the CR token
}

func newIdentityEnv(t *testing.T, source string) *identityEnv {
	t.Helper()
	em, err := emulator.Start(emulator.Options{SeparateIAM: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	dir := testkit.TempDir(t)
	ca, iamCA := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "iam-ca.pem")
	if err := em.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	if err := em.WriteIAMCAFile(iamCA); err != nil {
		t.Fatal(err)
	}
	auth := fmt.Sprintf("  source: %s\n  iam_url: %s\n  iam_ca_file: %s\n", source, em.IAMURL(), iamCA)
	e := &identityEnv{em: em, secrets: []string{em.APIKey(), em.CRToken()}}
	if source == "iam" {
		auth += "  api_key_file: " + testkit.WriteFile(t, dir, "apikey", em.APIKey()+"\n") + "\n"
	} else {
		id, _ := em.TrustedProfile()
		auth += fmt.Sprintf("  profile_id: %s\n  cr_token_file: %s\n", id, testkit.WriteFile(t, dir, "cr-token", em.CRToken()+"\n"))
	}
	e.config = testkit.WriteFile(t, dir, "config.yaml", fmt.Sprintf(
		"listen: %s\nupstream:\n  url: %s\n  ca_file: %s\nauth:\n%slog:\n  format: json\nadmin:\n  listen: \"\"\n",
		freeAddr(t), em.URL(), ca, auth))
	return e
}

// TestTokenAndDoctorSources: `token` prints an IAM token that the API accepts as
// Authorization: Bearer, with the account from the token; `doctor` names the source, gets
// the token from IAM and makes one API call with it. Neither prints the API key or CR token.
func TestTokenAndDoctorSources(t *testing.T) {
	for _, source := range []string{"iam", "trusted_profile"} {
		t.Run(source, func(t *testing.T) {
			e := newIdentityEnv(t, source)
			code, out, errOut := opsRun(t, "", "token", "-config", e.config, "-json")
			var j struct {
				AccessToken string `json:"access_token"`
				UserID      string `json:"user_id"`
			}
			if code != exitOK || json.Unmarshal([]byte(out), &j) != nil || j.UserID != e.em.UserID() {
				t.Fatalf("token -json = %d, stdout %q, stderr %q; want user_id %s", code, out, errOut, e.em.UserID())
			}
			if n := e.em.Counters().IAMExchanges; n != 1 {
				t.Errorf("IAM exchanges = %d after token, want 1", n)
			}
			services := e.em.URL() + "/api/v3/" + e.em.UserID() + "/services"
			if got := opsDo(t.Context(), opsEmulatorClient(t, e.em), "GET", services,
				map[string]string{"Authorization": "Bearer " + j.AccessToken}, "").code; got != 200 {
				t.Errorf("the printed token as Bearer: GET services = %d, want 200", got)
			}
			code, out, errOut = opsRun(t, "", "doctor", "-config", e.config)
			if code != exitOK {
				t.Fatalf("doctor = %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			mustContainAll(t, out, "ok    source     "+source+":", e.em.IAMURL(),
				"ok    token      from "+e.em.IAMURL()+"/identity/token: user_id "+e.em.UserID(), "ok    api_call")
			if n := e.em.Counters().IAMExchanges; n != 2 {
				t.Errorf("IAM exchanges = %d after doctor, want 2", n)
			}
			for _, s := range e.secrets {
				if strings.Contains(out+errOut, s) {
					t.Error("doctor printed the API key or the CR token")
				}
			}
		})
	}
}

// TestDoctorVPC: doctor with auth.source vpc gets the token through the metadata service and
// calls the API; with the service off, it fails and says in words that the service is off by
// default.
func TestDoctorVPC(t *testing.T) {
	em, err := emulator.Start(emulator.Options{Metadata: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	dir := testkit.TempDir(t)
	ca := filepath.Join(dir, "ca.pem")
	if err := em.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	cfg := testkit.WriteFile(t, dir, "config.yaml", fmt.Sprintf(
		"upstream:\n  url: %s\n  ca_file: %s\nauth:\n  source: vpc\n  metadata_url: %s\nadmin:\n  listen: \"\"\n", em.URL(), ca, em.MetadataURL()))
	code, out, errOut := opsRun(t, "", "doctor", "-config", cfg)
	if code != exitOK {
		t.Fatalf("doctor = %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	mustContainAll(t, out, "ok    source     vpc: the VPC instance metadata service "+em.MetadataURL(),
		"ok    token      from "+em.MetadataURL()+"/instance_identity/v1/iam_token", "ok    api_call")
	em.SetMetadataDisabled(true)
	code, out, _ = opsRun(t, "", "doctor", "-config", cfg)
	if code == exitOK {
		t.Fatal("doctor passed with the metadata service off")
	}
	mustContainAll(t, out, "hint  metadata", "It is off by default", "FAIL  token")
}

// TestDoctorShowsIAMsErrorCode: with a key IAM does not know, doctor's token line names IAM
// and shows IAM's errorCode and message, never the key.
func TestDoctorShowsIAMsErrorCode(t *testing.T) {
	e := newIdentityEnv(t, "iam")
	e.em.RemoveAPIKey(e.em.APIKey())
	code, out, errOut := opsRun(t, "", "doctor", "-config", e.config)
	if code == exitOK {
		t.Fatalf("doctor with a rejected key = %d, stdout:\n%s", code, out)
	}
	mustContainAll(t, out, "FAIL  token      IBM Cloud IAM rejected the API key (400 BXNIM0415E: Provided API key could not be found.)")
	if strings.Contains(out+errOut, e.em.APIKey()) {
		t.Error("doctor printed the API key")
	}
}
