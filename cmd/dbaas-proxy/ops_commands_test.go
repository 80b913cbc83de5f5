package main

// End-to-end tests of the commands that end by themselves: token, doctor, healthcheck and
// hash-token, against the emulator over real loopback sockets.

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net/http"
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

// opsRun runs a command that ends by itself, with stdin as its standard input.
func opsRun(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut testkit.SyncBuffer
	sys := system{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv:  func(string) string { return "" },
		signals: func() (<-chan os.Signal, func()) { return nil, func() {} },
		exit:    func(c int) { t.Errorf("%v called exit(%d)", args, c) },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code = runMain(ctx, args, sys)
	return code, out.String(), errOut.String()
}

// opsEmulatorClient trusts only the emulator's CA.
func opsEmulatorClient(t *testing.T, em *emulator.Server) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(em.CAPEM()) {
		t.Fatal("the emulator's CA does not parse")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestTokenCommand(t *testing.T) {
	e := newEnv(t, "")
	c := opsEmulatorClient(t, e.em)
	services := e.em.URL() + "/api/v3/" + e.em.UserID() + "/services"
	accepted := func(tok string) int {
		return opsDo(t.Context(), c, "GET", services, map[string]string{"x-auth-token": tok}, "").code
	}
	code, out, errOut := opsRun(t, "", "token", "-config", e.config)
	tok := strings.TrimSuffix(out, "\n")
	if code != exitOK || tok == "" || strings.ContainsAny(tok, " \n") {
		t.Fatalf("token = %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = opsRun(t, "", "token", "-config", e.config, "-json")
	var j map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &j) != nil {
		t.Fatalf("token -json = %d, stdout %q, stderr %q", code, out, errOut)
	}
	jsonTok, _ := j["access_token"].(string)
	exp, _ := j["expiry"].(string)
	expiry, err := time.Parse(time.RFC3339, exp)
	if err != nil || time.Until(expiry) <= 0 || time.Until(expiry) > time.Hour+time.Minute {
		t.Errorf("expiry %v (%v), want within the next hour", j["expiry"], err)
	}
	if j["user_id"] != e.em.UserID() || len(j) != 3 {
		t.Errorf("token -json = %v, want access_token, user_id %s and expiry", j, e.em.UserID())
	}
	tests := []struct {
		name, token string
		want        int
	}{
		{"printed token", tok, http.StatusOK},
		{"-json access_token", jsonTok, http.StatusOK},
		{"made-up token", "ops-not-a-token", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := accepted(tt.token); got != tt.want {
				t.Errorf("the emulator answered %d, want %d", got, tt.want)
			}
		})
	}
}

func TestDoctorCommand(t *testing.T) {
	e := newEnv(t, "")
	t.Run("healthy", func(t *testing.T) {
		code, out, errOut := opsRun(t, "", "doctor", "-config", e.config)
		if code != exitOK {
			t.Fatalf("doctor = %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, check := range []string{"config", "ca_file", "connect", "tls", "api_key", "token", "api_call", "clock"} {
			if !regexp.MustCompile(`(?m)^ok +` + check + ` `).MatchString(out) {
				t.Errorf("no ok line for %s in:\n%s", check, out)
			}
		}
		mustContainAll(t, out, "configuration in force", "ca_file: "+e.caFile, "api_key_file: "+e.keyFile)
		if strings.Contains(out+errOut, e.em.APIKey()) {
			t.Error("doctor printed the API key")
		}
	})
	t.Run("another emulator's CA", func(t *testing.T) {
		other, err := emulator.Start(emulator.Options{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		ca := filepath.Join(e.dir, "other-ca.pem")
		if err := other.WriteCAFile(ca); err != nil {
			t.Fatal(err)
		}
		cfg := testkit.WriteFile(t, e.dir, "other-ca.yaml", strings.Replace(mustRead(t, e.config), e.caFile, ca, 1))
		before := e.em.Counters().TokenRequests
		code, out, _ := opsRun(t, "", "doctor", "-config", cfg)
		if code != exitFailure {
			t.Errorf("doctor = %d, want 1", code)
		}
		if !regexp.MustCompile(`(?m)^FAIL +tls +the chain does not verify against ` + regexp.QuoteMeta(ca)).MatchString(out) {
			t.Errorf("no FAIL tls line naming %s in:\n%s", ca, out)
		}
		if n := e.em.Counters().TokenRequests; n != before {
			t.Error("doctor sent the API key to a server the CA file does not vouch for")
		}
	})
}

func TestHealthcheckCommand(t *testing.T) {
	e := newEnv(t, "")
	start(t, nil, "-config", e.config)
	e.ready(t)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"admin address", []string{"-addr", e.admin}, exitOK},
		{"admin address from the config", []string{"-config", e.config}, exitOK},
		{"nothing listens", []string{"-addr", freeAddr(t)}, exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := opsRun(t, "", append([]string{"healthcheck"}, tt.args...)...)
			if code != tt.want {
				t.Errorf("healthcheck = %d, want %d; stdout %q stderr %q", code, tt.want, out, errOut)
			}
			if tt.want == exitOK && out != "ok\n" || tt.want != exitOK && !strings.Contains(errOut, "healthcheck:") {
				t.Errorf("stdout %q, stderr %q", out, errOut)
			}
		})
	}
}

func TestHashTokenCommand(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	sum := sha256.Sum256([]byte(tok))
	line := "token_sha256: " + hex.EncodeToString(sum[:]) + "\n"
	tests := []struct {
		name, stdin string
		code        int
		stdout      string
	}{
		{"token and newline", tok + "\n", exitOK, line},
		{"surrounding white space", "  " + tok + " \r\n", exitOK, line},
		{"no newline", tok, exitOK, line},
		{"too short", "short\n", exitUsage, ""},
		{"empty stdin", "", exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := opsRun(t, tt.stdin, "hash-token")
			if code != tt.code || out != tt.stdout {
				t.Errorf("hash-token = %d %q (stderr %q), want %d %q", code, out, errOut, tt.code, tt.stdout)
			}
			if strings.Contains(out+errOut, tok) {
				t.Error("hash-token printed the token")
			}
		})
	}
}

// TestDoctorThroughProxy: with upstream.proxy_url, doctor reaches the upstream through the
// proxy's CONNECT tunnels, as the proxy does, and prints the proxy's password nowhere.
func TestDoctorThroughProxy(t *testing.T) {
	e := newEnv(t, "")
	p := testkit.NewConnectProxy(t, false)
	cfg := testkit.WriteFile(t, e.dir, "proxied.yaml", strings.Replace(mustRead(t, e.config),
		"upstream:\n", "upstream:\n  proxy_url: "+p.URL.String()+"\n", 1))
	code, out, errOut := opsRun(t, "", "doctor", "-config", cfg)
	if code != exitOK {
		t.Fatalf("doctor = %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if len(p.Seen()) == 0 {
		t.Error("doctor did not go through the proxy")
	}
	if all := out + errOut; strings.Contains(all, "pa:ss") || strings.Contains(all, "pa%3Ass") {
		t.Errorf("doctor printed the proxy's password:\n%s", all)
	}
}
