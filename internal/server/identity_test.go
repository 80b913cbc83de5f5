package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// sourceHarness is a harness whose proxy takes its token from source: for iam and
// trusted_profile the emulator serves IAM on a listener of its own with a CA of its own, which
// auth.iam_ca_file names; trusted_profile has no API key at all and reads the CR token from
// crFile. edit (may be nil) changes the config after that.
type sourceHarness struct {
	*harness
	crFile string
}

func newSourceHarness(t *testing.T, source string, opts Options, edit func(*config.Config, *emulator.Server)) *sourceHarness {
	t.Helper()
	dir := testkit.TempDir(t)
	sh := &sourceHarness{crFile: filepath.Join(dir, "cr-token")}
	iam := source == config.SourceIAM || source == config.SourceTrustedProfile
	emOpts := emulator.Options{SeparateIAM: iam, Metadata: source == config.SourceVPC}
	sh.harness = newHarnessWith(t, emOpts, opts, func(c *config.Config, em *emulator.Server) {
		c.Auth.Source = source
		if source != config.SourceDBaaS && source != config.SourceIAM {
			c.Auth.APIKeyFile = "" // and no DBAAS_API_KEY either: Options.Getenv is nil
		}
		if source == config.SourceVPC {
			c.Auth.MetadataURL = em.MetadataURL()
		}
		if iam {
			c.Auth.IAMURL = em.IAMURL()
			c.Auth.IAMCAFile = filepath.Join(dir, "iam-ca.pem")
			if err := em.WriteIAMCAFile(c.Auth.IAMCAFile); err != nil {
				t.Fatal(err)
			}
		}
		if source == config.SourceTrustedProfile {
			c.Auth.ProfileID, _ = em.TrustedProfile()
			c.Auth.CRTokenFile = sh.crFile
			writeCRToken(t, sh.crFile, em.CRToken())
		}
		if edit != nil {
			edit(c, em)
		}
	})
	return sh
}

// writeCRToken replaces the CR token file as a platform does: a new file renamed over the old.
func writeCRToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// arrivals returns the requests that reached the emulator on path.
func (h *harness) arrivals(path string) []emulator.Arrival {
	var out []emulator.Arrival
	for _, a := range h.em.Requests() {
		if a.Path == path {
			out = append(out, a)
		}
	}
	return out
}

// TestSourcesReachUpstream: with each auth.source, a request through the proxy reaches the
// emulator with the token in the header of that source (Authorization: Bearer for the IAM
// sources, by default), the token came from where the source says, /me/ became the account,
// and the status page and the exchange metric name the source.
func TestSourcesReachUpstream(t *testing.T) {
	tests := []struct {
		source     string
		header     string // auth.header; "" is the default, by source
		wantBearer bool
	}{
		{config.SourceDBaaS, "", false},
		{config.SourceIAM, "", true},
		{config.SourceTrustedProfile, "", true},
		{config.SourceIAM, "x-auth-token", false}, // an explicit header still wins
	}
	for _, tt := range tests {
		t.Run(tt.source+"/"+tt.header, func(t *testing.T) {
			h := newSourceHarness(t, tt.source, Options{}, func(c *config.Config, _ *emulator.Server) { c.Auth.Header = tt.header })
			h.serve(t)
			h.ready(t)
			if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
				t.Fatalf("GET /api/v3/me/services = %d %s", code, body)
			}
			got := h.arrivals("/api/v3/" + h.em.UserID() + "/services")
			if len(got) != 1 {
				t.Fatalf("%d requests reached /api/v3/{account}/services, want 1", len(got))
			}
			auth, xauth := got[0].Header.Get("Authorization"), got[0].Header.Get("X-Auth-Token")
			if tt.wantBearer && (!strings.HasPrefix(auth, "Bearer ey") || xauth != "") {
				t.Errorf("upstream saw Authorization %.12q, x-auth-token %.12q; want Bearer and no x-auth-token", auth, xauth)
			}
			if !tt.wantBearer && (auth != "" || !strings.HasPrefix(xauth, "ey")) {
				t.Errorf("upstream saw Authorization %.12q, x-auth-token %.12q; want x-auth-token only", auth, xauth)
			}
			iam, dbaas := h.em.Counters().IAMExchanges, len(h.arrivals(h.cfg.Auth.TokenPath))
			if wantIAM := tt.source != config.SourceDBaaS; (iam > 0) != wantIAM || (dbaas > 0) == wantIAM {
				t.Errorf("IAM exchanges %d, DBaaS token requests %d: the token came from the wrong place", iam, dbaas)
			}
			_, page := get(t, h.admin("/"))
			if !strings.Contains(page, `id="token-source" class="mono">`+tt.source+"<") {
				t.Errorf("the status page does not show the source %s", tt.source)
			}
			_, metrics := get(t, h.admin("/metrics"))
			if want := `dbaas_proxy_token_exchanges_total{identity="default",result="ok",source="` + tt.source + `"} 1`; !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
			if err := h.stop(t); err != nil {
				t.Fatal(err)
			}
			token := strings.TrimPrefix(auth+xauth, "Bearer ")
			for _, secret := range []string{h.em.APIKey(), h.em.CRToken(), token} {
				if strings.Contains(h.logs.String()+page+metrics, secret) {
					t.Errorf("the logs, status page or metrics hold a credential or the token")
				}
			}
		})
	}
}

// TestSourceRejected: IAM refusing the API key or the CR token (IBM's error shape) makes
// readiness 503 with IAM's errorCode, counts a rejected exchange, and sends no request
// upstream; neither the key nor the CR token appears in readiness or the logs.
func TestSourceRejected(t *testing.T) {
	tests := []struct {
		source, code string
		break_       func(*emulator.Server)
	}{
		{config.SourceIAM, emulator.IAMCodeKeyNotFound, func(em *emulator.Server) { em.RemoveAPIKey(em.APIKey()) }},
		{config.SourceTrustedProfile, emulator.IAMCodeBadCRToken, func(em *emulator.Server) { em.SetCRTokens(emulator.NewCRToken()) }},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			h := newSourceHarness(t, tt.source, Options{}, nil)
			secret := h.em.APIKey()
			if tt.source == config.SourceTrustedProfile {
				secret = h.em.CRToken()
			}
			tt.break_(h.em)
			h.serve(t)
			var body string
			eventually(t, "readyz 503 naming "+tt.code, func() bool {
				var code int
				code, body = get(t, h.admin("/readyz"))
				return code == 503 && strings.Contains(body, tt.code)
			})
			if n := h.em.Counters().IAMRejected; n < 1 {
				t.Errorf("IAMRejected = %d, want at least 1", n)
			}
			_, metrics := get(t, h.admin("/metrics"))
			if !strings.Contains(metrics, `dbaas_proxy_token_exchanges_total{identity="default",result="rejected",source="`+tt.source+`"}`) ||
				strings.Contains(metrics, `{result="rejected",source="`+tt.source+`"} 0`) {
				t.Errorf("the rejected exchange is not counted with its source")
			}
			if code, _ := get(t, h.url("/api/v3/me/services")); code == 200 {
				t.Errorf("GET through the proxy answered 200 without a token")
			}
			if n := len(h.arrivals("/api/v3/" + h.em.UserID() + "/services")); n != 0 {
				t.Errorf("%d requests reached the upstream without a token", n)
			}
			if err := h.stop(t); err != nil {
				t.Fatal(err)
			}
			for what, text := range map[string]string{"readyz": body, "the logs": h.logs.String()} {
				if strings.Contains(text, secret) {
					t.Errorf("%s hold the credential", what)
				}
			}
		})
	}
}

// TestCRTokenRotation: the platform rotates the CR token file and IAM accepts only the new
// token from then on; the next exchange re-reads the file and succeeds, and the old token is
// never sent again.
func TestCRTokenRotation(t *testing.T) {
	h := newSourceHarness(t, config.SourceTrustedProfile, Options{}, nil)
	h.serve(t)
	h.ready(t)
	before := h.srv.routes[0].ident.tokens.Status()
	fresh := emulator.NewCRToken()
	writeCRToken(t, h.crFile, fresh)
	h.em.SetCRTokens(fresh) // the old one is now refused with IAMCodeBadCRToken
	if err := h.srv.routes[0].ident.tokens.Refresh(); err != nil {
		t.Fatalf("Refresh = %v", err)
	}
	eventually(t, "a second IAM exchange", func() bool { return h.srv.routes[0].ident.tokens.Status().Exchanges >= before.Exchanges+1 })
	eventually(t, "the exchange ended", func() bool {
		st := h.srv.routes[0].ident.tokens.Status()
		return st.LastError != nil || st.Fingerprint != before.Fingerprint
	})
	st := h.srv.routes[0].ident.tokens.Status()
	if st.LastError != nil || st.Fingerprint == before.Fingerprint {
		t.Fatalf("after the rotation: error %v, fingerprint %s (was %s); want a new token", st.LastError, st.Fingerprint, before.Fingerprint)
	}
	if c := h.em.Counters(); c.IAMExchanges != 2 || c.IAMRejected != 0 {
		t.Errorf("IAM exchanges %d, rejected %d; want 2 and 0 (the old CR token never sent after the rotation)", c.IAMExchanges, c.IAMRejected)
	}
	if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
		t.Errorf("GET after the rotation = %d %s", code, body)
	}
}

// TestAccountID: a token without account.bss is usable only with auth.account_id; without
// it, readiness says to set auth.account_id and nothing goes upstream.
func TestAccountID(t *testing.T) {
	tests := []struct {
		name      string
		configure bool // set auth.account_id to the emulator's account
		omitBSS   bool
		wantReady bool
	}{
		{"claim only", false, false, true},
		{"config only", true, true, true},
		{"neither", false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSourceHarness(t, config.SourceIAM, Options{}, func(c *config.Config, em *emulator.Server) {
				if tt.configure {
					c.Auth.AccountID = em.UserID()
				}
			})
			h.em.SetOmitAccountClaim(tt.omitBSS)
			h.serve(t)
			if !tt.wantReady {
				eventually(t, "readyz 503 saying to set auth.account_id", func() bool {
					code, body := get(t, h.admin("/readyz"))
					return code == 503 && strings.Contains(body, "set auth.account_id")
				})
				if code, _ := get(t, h.url("/api/v3/me/services")); code == 200 {
					t.Error("GET answered 200 without an account id")
				}
				if n := len(h.arrivals("/api/v3/" + h.em.UserID() + "/services")); n != 0 {
					t.Errorf("%d requests went upstream without an account id", n)
				}
				if !strings.Contains(h.logs.String(), "set auth.account_id") {
					t.Error("the log does not say to set auth.account_id")
				}
				return
			}
			h.ready(t)
			if code, body := get(t, h.url("/api/v3/me/services")); code != 200 {
				t.Fatalf("GET /me/services = %d %s", code, body)
			}
			if code, body := get(t, h.url("/api/v1/auth/token")); code != 200 || !strings.Contains(body, h.em.UserID()) {
				t.Errorf("the local token endpoint = %d, want 200 with the account id", code)
			}
		})
	}
}

// TestIAMCAFile: IAM is trusted through auth.iam_ca_file alone: with the emulator's separate
// IAM CA the proxy gets ready; with the DBaaS CA, or the system roots, TLS to IAM fails and
// readiness says so.
func TestIAMCAFile(t *testing.T) {
	tests := []struct {
		name      string
		caFile    func(c *config.Config) string
		wantReady bool
	}{
		{"the IAM CA", func(c *config.Config) string { return c.Auth.IAMCAFile }, true},
		{"the DBaaS CA", func(c *config.Config) string { return c.Upstream.CAFile }, false},
		{"the system roots", func(*config.Config) string { return "" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSourceHarness(t, config.SourceIAM, Options{}, func(c *config.Config, _ *emulator.Server) {
				c.Auth.IAMCAFile = tt.caFile(c)
			})
			h.serve(t)
			if tt.wantReady {
				h.ready(t)
				return
			}
			eventually(t, "readyz 503 naming the certificate", func() bool {
				code, body := get(t, h.admin("/readyz"))
				return code == 503 && strings.Contains(body, "certificate")
			})
			if n := h.em.Counters().IAMExchanges; n != 0 {
				t.Errorf("%d IAM exchanges over an unverified connection", n)
			}
		})
	}
}

// TestTrustedProfileReadsNoKey: trusted_profile starts with neither auth.api_key_file nor
// DBAAS_API_KEY (where dbaas and iam fail with "no API key"), and NewTokenSource works alike.
func TestTrustedProfileReadsNoKey(t *testing.T) {
	h := newSourceHarness(t, config.SourceTrustedProfile, Options{}, nil)
	if got := h.srv.APIKeySource(); strings.Contains(got, "API key") || !strings.Contains(got, "compute resource token") {
		t.Errorf("APIKeySource = %q", got)
	}
	src, closeFn, err := NewTokenSource(h.cfg, Options{})
	if err != nil {
		t.Fatalf("NewTokenSource = %v", err)
	}
	defer closeFn()
	tok, err := src.Token(t.Context())
	if err != nil || tok.UserID != h.em.UserID() {
		t.Fatalf("Token = user %q, %v; want %s", tok.UserID, err, h.em.UserID())
	}
	for _, source := range []string{config.SourceDBaaS, config.SourceIAM} {
		cfg := *h.cfg
		cfg.Auth.Source, cfg.Auth.ProfileID, cfg.Auth.CRTokenFile = source, "", ""
		if _, err := New(&cfg, Options{}); err == nil || !strings.Contains(err.Error(), "no API key") {
			t.Errorf("%s without a key: New = %v, want the no-API-key error", source, err)
		}
	}
}
