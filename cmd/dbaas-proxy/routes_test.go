package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// routesEnv writes a config of two routes over two emulators, with an identity each.
func routesEnv(t *testing.T) (config string, a, b *emulator.Server) {
	t.Helper()
	dir := testkit.TempDir(t)
	ems := make([]*emulator.Server, 2)
	var routes, ids strings.Builder
	for i, name := range []string{"dallas", "frankfurt"} {
		em, err := emulator.Start(emulator.Options{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { em.Close() })
		ems[i] = em
		ca := filepath.Join(dir, name+".pem")
		if err := em.WriteCAFile(ca); err != nil {
			t.Fatal(err)
		}
		key := testkit.WriteFile(t, dir, name+".key", em.APIKey())
		fmt.Fprintf(&ids, "  - {name: id-%s, api_key_file: %s}\n", name, key)
		fmt.Fprintf(&routes, "  - {name: %s, listen: %s, identity: id-%s, upstream: {url: %q, ca_file: %s}}\n", name, freeAddr(t), name, em.URL(), ca)
	}
	config = testkit.WriteFile(t, dir, "config.yaml", "identities:\n"+ids.String()+"routes:\n"+routes.String()+"admin:\n  listen: "+freeAddr(t)+"\n")
	return config, ems[0], ems[1]
}

// TestCommandsCoverEveryRoute: token -route and -identity give the token of that route's or
// identity's upstream; doctor, pins and validate go over every route.
func TestCommandsCoverEveryRoute(t *testing.T) {
	config, a, b := routesEnv(t)
	for _, tt := range []struct {
		args []string
		em   *emulator.Server
	}{{[]string{"-route", "frankfurt"}, b}, {[]string{"-identity", "id-dallas"}, a}, {nil, a}} {
		code, out, errOut := opsRun(t, "", append([]string{"token", "-config", config}, tt.args...)...)
		if code != exitOK {
			t.Fatalf("token %v: %d %s", tt.args, code, errOut)
		}
		c := opsEmulatorClient(t, tt.em)
		got := opsDo(t.Context(), c, "GET", tt.em.URL()+"/api/v3/"+tt.em.UserID()+"/services",
			map[string]string{"x-auth-token": strings.TrimSpace(out)}, "")
		if got.code != http.StatusOK {
			t.Errorf("token %v: its upstream answered %d", tt.args, got.code)
		}
	}
	if code, _, errOut := opsRun(t, "", "token", "-config", config, "-route", "nope"); code != exitUsage || !strings.Contains(errOut, "dallas, frankfurt") {
		t.Errorf("token -route nope: %d %q", code, errOut)
	}
	code, out, errOut := opsRun(t, "", "doctor", "-config", config)
	if code != exitOK {
		t.Fatalf("doctor: %d\n%s\n%s", code, out, errOut)
	}
	mustContainAll(t, out, "route dallas (identity id-dallas)", "route frankfurt (identity id-frankfurt)", a.URL()[len("https://"):], b.URL()[len("https://"):])
	if strings.Count(out, "ok    api_call") != 2 {
		t.Errorf("doctor made %d calls, want 2:\n%s", strings.Count(out, "ok    api_call"), out)
	}
	code, out, _ = opsRun(t, "", "pins", "-config", config)
	if code != exitOK || !strings.Contains(out, "# route frankfurt") || strings.Count(out, "# verified against") != 2 {
		t.Errorf("pins: %d\n%s", code, out)
	}
	if code, _, errOut := opsRun(t, "", "validate", "-config", config); code != exitOK {
		t.Errorf("validate: %d %s", code, errOut)
	}
}

// TestPinsAndDoctorSendTheServerName: with upstream.server_name set, pins and doctor send it
// as the SNI, as the transport does, so that an upstream choosing its certificate by SNI
// shows them the same chain.
func TestPinsAndDoctorSendTheServerName(t *testing.T) {
	dir := testkit.TempDir(t)
	ca := testkit.NewCA(t, "sni CA")
	caFile, _ := ca.Write(t, dir, "ca")
	names := make(chan string, 8)
	leaf := ca.Issue(t, "dbaas.example", true).TLSCertificate()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		names <- h.ServerName
		return &leaf, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	config := testkit.WriteFile(t, dir, "config.yaml", fmt.Sprintf("upstream:\n  url: https://%s\n  ca_file: %s\n  server_name: dbaas.example\n", l.Addr(), caFile))
	for _, cmd := range []string{"pins", "doctor"} {
		opsRun(t, "", cmd, "-config", config)
		select {
		case got := <-names:
			if got != "dbaas.example" {
				t.Errorf("%s sent SNI %q, want dbaas.example", cmd, got)
			}
		default:
			t.Errorf("%s did not connect", cmd)
		}
	}
}

// TestDoctorRedactsRouteProxyPasswords: the configuration doctor prints shows no route's
// upstream.proxy_url password.
func TestDoctorRedactsRouteProxyPasswords(t *testing.T) {
	dir := testkit.TempDir(t)
	config := testkit.WriteFile(t, dir, "config.yaml", "routes:\n  - {name: a, listen: 127.0.0.1:1, upstream: {url: \"https://127.0.0.1:2\", ca_file: "+
		filepath.Join(dir, "ca.pem")+", proxy_url: \"http://user:s3cret-pass@127.0.0.1:3\"}}\n")
	_, out, errOut := opsRun(t, "", "doctor", "-config", config)
	if strings.Contains(out+errOut, "s3cret-pass") || !strings.Contains(out, "proxy_url") {
		t.Errorf("doctor shows the proxy password, or no proxy_url:\n%s%s", out, errOut)
	}
}
