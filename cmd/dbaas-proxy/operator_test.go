package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// post sends an empty POST to url and returns the status.
func post(t *testing.T, url string) int {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(url, "application/json", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBinaryUpstreamDown: with the upstream gone, two requests turn the status page,
// /status.json and dbaas_proxy_upstream_up to "down"; /readyz stays 200 with a note. The text
// log shows each request on one short line with real milliseconds.
func TestBinaryUpstreamDown(t *testing.T) {
	e := newEnv(t, "")
	r := runEnv(t, []string{"DBAAS_PROXY_LOG_FORMAT=text"}, "-config", e.config)
	e.ready(t)
	if code, _ := get(t, "http://"+e.listen+"/api/v3/me/services"); code != http.StatusOK {
		t.Fatalf("GET services before: %d", code)
	}
	e.em.Close()
	for range 2 {
		if code, body := get(t, "http://"+e.listen+"/api/v3/me/services"); code != http.StatusBadGateway {
			t.Fatalf("GET services with the upstream gone: %d %s", code, body)
		}
	}
	code, body := get(t, "http://"+e.admin+"/status.json")
	var st struct {
		Upstream []struct {
			Route, FailureKind, FailureMessage string
			Up                                 bool
		}
		RecentErrors []struct{ Message string } `json:"recent_errors"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != http.StatusOK {
		t.Fatalf("status.json: %d %v\n%s", code, err, body)
	}
	if strings.Contains(body, e.em.APIKey()) {
		t.Error("status.json holds the API key")
	}
	if len(st.Upstream) != 1 || st.Upstream[0].Up || st.Upstream[0].Route != "default" || !strings.Contains(body, `"failure_kind": "refused"`) {
		t.Errorf("status.json upstream: %s", body)
	}
	if len(st.RecentErrors) < 2 || !strings.Contains(st.RecentErrors[0].Message, "refused the connection") {
		t.Errorf("status.json recent errors: %s", body)
	}
	if _, m := get(t, "http://"+e.admin+"/metrics"); !strings.Contains(m, `dbaas_proxy_upstream_up{route="default"} 0`) {
		t.Errorf("metrics lack dbaas_proxy_upstream_up 0")
	}
	if code, body := get(t, "http://"+e.admin+"/readyz"); code != http.StatusOK || !strings.HasPrefix(body, "ready (upstream unreachable since ") {
		t.Errorf("readyz: %d %q", code, body)
	}
	if _, page := get(t, "http://"+e.admin+"/"); !strings.Contains(page, "unreachable since") || !strings.Contains(page, `class="card wide bad"`) {
		t.Errorf("the status page does not show the upstream down")
	}
	r.signal(t, syscall.SIGTERM)
	if c := r.exit(t, 10*time.Second); c != 0 {
		t.Errorf("exit %d", c)
	}
	line := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.(\d\d\d) INF GET /api/v3/me/services → 200 [0-9.]+ms route=default id=\S+ template=/api/v3/\{user_id\}/services$`)
	logs := r.stderr.String()
	if !line.MatchString(logs) {
		t.Fatalf("no text access line in:\n%s", logs)
	}
	t.Logf("the text log:\n%s", logs)
	if strings.Contains(logs, `"message"`) || len(strings.Split(line.FindString(logs), " ")) > 10 {
		t.Errorf("the text log is not short text:\n%s", logs)
	}
	if ms := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.(\d\d\d) `).FindAllStringSubmatch(logs, -1); len(ms) < 3 ||
		ms[0][1] == "000" && ms[1][1] == "000" && ms[2][1] == "000" {
		t.Errorf("the milliseconds are not real: %v", ms)
	}
}

// TestBinaryQuitQuitQuit: POST /quitquitquit from loopback answers 202 and drains: exit 0.
func TestBinaryQuitQuitQuit(t *testing.T) {
	e := newEnv(t, "")
	r := run(t, "-config", e.config)
	e.ready(t)
	if code := post(t, "http://"+e.admin+"/quitquitquit"); code != http.StatusAccepted {
		t.Fatalf("POST /quitquitquit: %d", code)
	}
	if c := r.exit(t, 10*time.Second); c != 0 {
		t.Errorf("exit %d after /quitquitquit, want 0; stderr:\n%s", c, r.stderr)
	}
}

// TestBinaryWaitAndHealthcheckReady: wait returns once /readyz is 200, and exits 1 while it is
// 503 (a rejected key), as healthcheck -ready does.
func TestBinaryWaitAndHealthcheckReady(t *testing.T) {
	e := newEnv(t, "")
	waiting := run(t, "wait", "-timeout", "30s", "-addr", e.admin) // before the proxy is up
	run(t, "-config", e.config)
	if c := waiting.exit(t, 30*time.Second); c != 0 {
		t.Errorf("wait: exit %d; %s", c, waiting.stderr)
	}
	if code, out, errOut := runBin(t, nil, "", "healthcheck", "-ready", "-addr", e.admin); code != 0 {
		t.Errorf("healthcheck -ready: exit %d %s %s", code, out, errOut)
	}

	bad := newEnv(t, "")
	testkit.WriteFile(t, bad.dir, "apikey.json", `{"apikey":"not-the-key-of-the-emulator"}`)
	run(t, "-config", bad.config)
	eventually(t, 10*time.Second, "the admin listener", func() bool {
		code, _ := get(t, "http://"+bad.admin+"/healthz")
		return code == http.StatusOK
	})
	if code, _, errOut := runBin(t, nil, "", "healthcheck", "-ready", "-addr", bad.admin); code != 1 || !strings.Contains(errOut, "503") {
		t.Errorf("healthcheck -ready with a rejected key: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runBin(t, nil, "", "wait", "-timeout", "1s", "-addr", bad.admin); code != 1 {
		t.Errorf("wait with a rejected key: exit %d, %s", code, errOut)
	}
	if _, body := get(t, "http://"+bad.admin+"/readyz"); !strings.Contains(body, "dbaas-proxy doctor says which one is in use") {
		t.Errorf("readyz with a rejected key gives no next step: %q", body)
	}
}

// TestBinaryWrongCASameWords: with a wrong CA file, /readyz tells the operator what the client's
// error body tells the client, without Go package prefixes.
func TestBinaryWrongCASameWords(t *testing.T) {
	e := newEnv(t, "")
	testkit.WriteFile(t, e.dir, "ca.pem", leafPEM(t))
	run(t, "-config", e.config)
	const fix = "download the CA file of this DBaaS Manager from the service dashboard"
	var ready string
	eventually(t, 10*time.Second, "readyz names the fix", func() bool {
		_, ready = get(t, "http://"+e.admin+"/readyz")
		return strings.Contains(ready, fix)
	})
	_, client := get(t, "http://"+e.listen+"/api/v3/me/services")
	if !strings.Contains(client, fix) || strings.Contains(ready, "tokensource:") {
		t.Errorf("client %q, readyz %q", client, ready)
	}
}

// leafPEM is a self-signed certificate that is not a CA.
func leafPEM(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "server.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestBinaryValidatePreflight: validate takes run's flags and warns, each warning as
// "warning: KEY: problem (fix)"; -strict turns warnings into exit 1, problems exit 2.
func TestBinaryValidatePreflight(t *testing.T) {
	dir := testkit.TempDir(t)
	key := testkit.WriteFile(t, dir, "apikey", strings.Repeat("k", 44))
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	ca := testkit.WriteFile(t, dir, "ca.pem", leafPEM(t))
	cfg := testkit.WriteFile(t, dir, "c.yaml", "upstream:\n  url: https://dbaas.example\n  ca_file: ca.pem\nauth:\n  api_key_file: apikey\n"+
		"inbound:\n  allow_unauthenticated_remote: true\n  allowed_hosts: [proxy.internal]\n")
	args := []string{"validate", "-config", cfg, "-listen", "0.0.0.0:20000", "-admin-listen", "0.0.0.0:9090", "-log-level", "debug"}
	code, out, errOut := runBin(t, nil, "", args...)
	if code != 0 {
		t.Fatalf("validate: exit %d, want 0 with warnings; %s %s", code, out, errOut)
	}
	wants := []string{
		`warning: listen: "0.0.0.0:20000" is not a loopback address (`,
		`warning: admin.listen: "0.0.0.0:9090" is not a loopback address (`,
		`warning: upstream.url: "https://dbaas.example" has no explicit port`,
		"warning: upstream.ca_file: " + ca + ` holds "CN=server.example", which is not a CA certificate`,
	}
	if runtime.GOOS != "windows" { // Windows has no group/other mode bits
		wants = append(wants, "warning: auth.api_key_file: "+key+" is readable by group or others")
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := runBin(t, nil, "", append([]string{"validate", "-strict"}, args[1:]...)...); code != 1 {
		t.Errorf("validate -strict with warnings: exit %d, want 1", code)
	}
	if code, _, _ := runBin(t, []string{"DBAAS_PROXY_LOG_FORMAT=xml"}, "", args...); code != 2 {
		t.Errorf("validate with a problem: exit %d, want 2", code)
	}
}

// TestBinaryCommandLineStumbles: a stray argument is never echoed; tabs in YAML, ~/ in paths,
// a relative path from a variable, a port in use.
func TestBinaryCommandLineStumbles(t *testing.T) {
	e := newEnv(t, "")
	const secret = "ThisCouldBeTheAPIKey0123456789"
	code, out, errOut := runBin(t, nil, "", "-config", e.config, secret)
	if code != exitUsage || strings.Contains(out+errOut, secret) || !strings.Contains(errOut, "unexpected argument 3 (30 characters, not shown") {
		t.Errorf("stray argument: exit %d, %q", code, errOut)
	}
	tabs := testkit.WriteFile(t, e.dir, "tabs.yaml", "upstream:\n\turl: https://x:20000\n")
	if code, _, errOut := runBin(t, nil, "", "validate", "-config", tabs); code != exitUsage || !strings.Contains(errOut, "YAML does not allow tabs for indentation (line 2)") {
		t.Errorf("tabs: exit %d, %q", code, errOut)
	}
	home := testkit.TempDir(t)
	if err := os.Rename(e.caFile, filepath.Join(home, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "USERPROFILE=" + home, "DBAAS_PROXY_UPSTREAM_CA_FILE=~/ca.pem"} // USERPROFILE: Windows' home
	if code, out, errOut := runBin(t, env, "", "validate", "-config", e.config); code != 0 {
		t.Errorf("~/ca.pem: exit %d %s %s", code, out, errOut)
	}
	env = []string{"DBAAS_PROXY_UPSTREAM_CA_FILE=ca.pem"}
	if code, _, errOut := runBinIn(t, home, env, "", "validate", "-config", e.config); code != 0 {
		t.Errorf("relative ca.pem in the working directory: exit %d %s", code, errOut)
	}
	if code, _, errOut := runBin(t, env, "", "validate", "-config", e.config); code != exitUsage || !strings.Contains(errOut, "resolved against the working directory") {
		t.Errorf("relative ca.pem elsewhere: exit %d %s", code, errOut)
	}
	if err := os.Rename(filepath.Join(home, "ca.pem"), e.caFile); err != nil {
		t.Fatal(err)
	}
	run(t, "-config", e.config)
	e.ready(t)
	code, _, errOut = runBin(t, nil, "", "-config", e.config, "-admin-listen", freeAddr(t))
	if code != exitFailure || !strings.Contains(errOut, "listen: ") || !strings.Contains(errOut, "is another dbaas-proxy already running? (`-listen` / `-admin-listen` to pick other ports)") {
		t.Errorf("port in use: exit %d, %q", code, errOut)
	}
}

// TestBinaryDemoSecondSignalAndPortInUse: a second Ctrl-C during demo's drain still removes its
// temporary key and CA; a port in use exits 1 as run does.
func TestBinaryDemoSecondSignalAndPortInUse(t *testing.T) {
	tmp := testkit.TempDir(t)
	listen, admin := freeAddr(t), freeAddr(t)
	r := runEnv(t, []string{"TMPDIR=" + tmp}, "demo", "-listen", listen, "-admin-listen", admin)
	eventually(t, 20*time.Second, "demo ready", func() bool {
		code, _ := get(t, "http://"+admin+"/readyz")
		return code == http.StatusOK
	})
	if code, _, errOut := runBin(t, nil, "", "demo", "-listen", listen, "-admin-listen", freeAddr(t)); code != exitFailure ||
		!strings.Contains(errOut, "is another dbaas-proxy already running?") {
		t.Errorf("demo on a port in use: exit %d, %s", code, errOut)
	}
	conn, err := net.Dial("tcp", listen) // a request whose body never comes keeps the drain going
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /api/v3/me/services HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the request reaches the handler
	r.signal(t, syscall.SIGINT)
	eventually(t, 10*time.Second, "readyz 503 after Ctrl-C", func() bool {
		code, _ := get(t, "http://"+admin+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	r.signal(t, syscall.SIGINT)
	if code := r.exit(t, 10*time.Second); code != 128+int(syscall.SIGINT) {
		t.Errorf("exit %d after a second Ctrl-C; stderr:\n%s", code, r.stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "dbaas-proxy-demo-*")); len(left) > 0 {
		t.Errorf("demo left %v behind", left)
	}
}
