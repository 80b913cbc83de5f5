package tokensource

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// iamRequest is one request as the fake IAM received it.
type iamRequest struct {
	method, path, contentType, accept string
	form                              url.Values
}

// fakeIAM is a small IAM token endpoint over real TLS with its own CA. answer decides each
// response from the form.
type fakeIAM struct {
	srv    *httptest.Server
	client *http.Client // trusts exactly the fake's CA
	answer func(form url.Values) (int, string)
	mu     sync.Mutex
	got    []iamRequest
}

func newFakeIAM(t *testing.T, answer func(url.Values) (int, string)) *fakeIAM {
	t.Helper()
	ca := testkit.NewCA(t, "fake IAM CA")
	f := &fakeIAM{answer: answer}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		f.got = append(f.got, iamRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept"), r.PostForm})
		f.mu.Unlock()
		code, body := f.answer(r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "iam", true).TLSCertificate()}, MinVersion: tls.VersionTLS12}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	f.client = &http.Client{Transport: tr}
	return f
}

func (f *fakeIAM) requests() []iamRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]iamRequest(nil), f.got...)
}

func (f *fakeIAM) options(log zerolog.Logger) IAMOptions {
	return IAMOptions{URL: f.srv.URL, Client: f.client, Now: func() time.Time { return t0 }, Logger: log,
		Key: func() (string, error) { return testKey, nil }}
}

// iamAnswer is IAM's 200 answer for access, with expiration and expires_in (0 leaves one out).
func iamAnswer(access string, expiration int64, expiresIn int) string {
	s := fmt.Sprintf(`{"access_token":%q,"refresh_token":"not-used","token_type":"Bearer","scope":"ibm openid"`, access)
	if expiration != 0 {
		s += fmt.Sprintf(`,"expiration":%d`, expiration)
	}
	if expiresIn != 0 {
		s += fmt.Sprintf(`,"expires_in":%d`, expiresIn)
	}
	return s + "}"
}

// iamJWT is an IAM-shaped access token of account acc expiring at exp (0: no exp claim).
func iamJWT(acc string, exp int64) string {
	claims := map[string]any{"iat": t0.Unix() - 2, "iss": "https://iam.cloud.ibm.com/identity"}
	if acc != "" {
		claims["account"] = map[string]any{"bss": acc}
	}
	if exp != 0 {
		claims["exp"] = exp
	}
	return makeJWT(claims)
}

func TestIAMAPIKeyExchange(t *testing.T) {
	jwt := iamJWT("acc-bss", t0.Unix()+3600)
	f := newFakeIAM(t, func(url.Values) (int, string) { return 200, iamAnswer(jwt, t0.Unix()+3600, 3600) })
	tok, err := NewIAM(f.options(zerolog.Nop())).Token(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	got := f.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	want := url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:apikey"}, "apikey": {testKey}}
	checks := []struct{ name, got, want string }{
		{"method", r.method, http.MethodPost},
		{"path", r.path, "/identity/token"},
		{"content type", r.contentType, "application/x-www-form-urlencoded"},
		{"accept", r.accept, "application/json"},
		{"form", r.form.Encode(), want.Encode()},
		{"access token", tok.AccessToken, jwt},
		{"user id", tok.UserID, "acc-bss"},
		{"expiry", tok.Expiry.UTC().String(), t0.Add(time.Hour).String()},
		{"issued at", tok.IssuedAt.UTC().String(), t0.Add(-2 * time.Second).String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestIAMExpiry(t *testing.T) {
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	tests := []struct {
		name       string
		expiration int64
		expiresIn  int
		jwtExp     int64
		want       time.Duration // from t0
	}{
		{"all agree", at(time.Hour), 3600, at(time.Hour), time.Hour},
		{"expiration earlier than the JWT", at(30 * time.Minute), 3600, at(time.Hour), 30 * time.Minute},
		{"JWT earlier than expiration", at(time.Hour), 3600, at(20 * time.Minute), 20 * time.Minute},
		{"expiration wins over expires_in", at(40 * time.Minute), 3600, 0, 40 * time.Minute},
		{"expires_in without expiration", 0, 1200, 0, 20 * time.Minute},
		{"expires_in, JWT earlier", 0, 3600, at(10 * time.Minute), 10 * time.Minute},
		{"JWT only", 0, 0, at(15 * time.Minute), 15 * time.Minute},
		{"nothing: the default lifetime", 0, 0, 0, 55 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jwt := iamJWT("acc", tt.jwtExp)
			f := newFakeIAM(t, func(url.Values) (int, string) { return 200, iamAnswer(jwt, tt.expiration, tt.expiresIn) })
			tok, err := NewIAM(f.options(zerolog.Nop())).Token(ctxTimeout(t))
			if err != nil {
				t.Fatal(err)
			}
			if want := t0.Add(tt.want); !tok.Expiry.Equal(want) {
				t.Errorf("expiry %s, want %s", tok.Expiry.UTC(), want)
			}
		})
	}
}

func TestIAMAccountID(t *testing.T) {
	tests := []struct {
		name, configured, claim, want, wantErr string
	}{
		{"configured wins over the claim", "acc-conf", "acc-bss", "acc-conf", ""},
		{"the claim without configuration", "", "acc-bss", "acc-bss", ""},
		{"neither", "", "", "", "tokensource: the token carries no account id (claim account.bss); set auth.account_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jwt := iamJWT(tt.claim, t0.Unix()+3600)
			f := newFakeIAM(t, func(url.Values) (int, string) { return 200, iamAnswer(jwt, t0.Unix()+3600, 3600) })
			opts := f.options(zerolog.Nop())
			opts.AccountID = tt.configured
			tok, err := NewIAM(opts).Token(ctxTimeout(t))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || tok.UserID != tt.want {
				t.Errorf("UserID %q (%v), want %q", tok.UserID, err, tt.want)
			}
		})
	}
}

// TestIAMRejectedKey: IAM's 400 with its error shape is a rejection of the key, with IAM's code
// in readiness, the request id logged, and the key nowhere.
func TestIAMRejectedKey(t *testing.T) {
	f := newFakeIAM(t, func(form url.Values) (int, string) {
		return 400, fmt.Sprintf(`{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found.",`+
			`"errorDetails":"key %s","context":{"requestId":"req-123","requestType":"incoming.Identity_Token"}}`, form.Get("apikey"))
	})
	logs := &testkit.SyncBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	clock := newFakeClock()
	opts := f.options(log)
	opts.Now = clock.Now
	c := NewCached(NewIAM(opts), CachedOptions{jitter: -1, Clock: clock, Logger: log})
	defer c.Close()
	_, err := c.Token(ctxTimeout(t))
	var xe *ExchangeError
	if !errors.As(err, &xe) || !xe.Rejected() || xe.Code != "BXNIM0415E" || xe.RequestID != "req-123" ||
		xe.Message != "Provided API key could not be found." {
		t.Fatalf("error %v (%+v), want a rejection carrying IAM's code, message and request id", err, xe)
	}
	_, why := c.Status().Ready(clock.Now())
	if want := "no token yet: IBM Cloud IAM rejected the API key (400 BXNIM0415E: Provided API key could not be found.); next attempt in 5m0s"; why != want {
		t.Errorf("readiness %q, want %q", why, want)
	}
	if !strings.Contains(logs.String(), `"request_id":"req-123"`) {
		t.Errorf("the request id was not logged:\n%s", logs.String())
	}
	for _, text := range []string{err.Error(), why, xe.Body, logs.String()} {
		if strings.Contains(text, testKey) {
			t.Errorf("the API key shows up in %q", text)
		}
	}
}

func TestTrustedProfileExchange(t *testing.T) {
	dir := testkit.TempDir(t)
	file := filepath.Join(dir, "token")
	jwt := iamJWT("acc-bss", t0.Unix()+3600)
	f := newFakeIAM(t, func(url.Values) (int, string) { return 200, iamAnswer(jwt, t0.Unix()+3600, 3600) })
	tests := []struct {
		name       string
		id, byName string
	}{
		{"profile id", "Profile-1", ""},
		{"profile name", "", "my-profile"},
		{"both", "Profile-1", "my-profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := f.options(zerolog.Nop())
			opts.Key = func() (string, error) { t.Error("the trusted profile read the API key"); return testKey, nil }
			opts.CRTokenFile, opts.ProfileID, opts.ProfileName = file, tt.id, tt.byName
			src := NewTrustedProfile(opts)
			before := len(f.requests())
			for _, content := range []string{"cr-token-one\n", "cr-token-two"} { // the platform rotates the file
				if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := src.Token(ctxTimeout(t)); err != nil {
					t.Fatal(err)
				}
			}
			got := f.requests()[before:]
			for i, cr := range []string{"cr-token-one", "cr-token-two"} {
				want := url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:cr-token"}, "cr_token": {cr}}
				if tt.id != "" {
					want.Set("profile_id", tt.id)
				}
				if tt.byName != "" {
					want.Set("profile_name", tt.byName)
				}
				if got[i].form.Encode() != want.Encode() || got[i].path != "/identity/token" {
					t.Errorf("exchange %d sent %s %q, want /identity/token %q", i+1, got[i].path, got[i].form.Encode(), want.Encode())
				}
			}
		})
	}
}

func TestTrustedProfileErrors(t *testing.T) {
	dir := testkit.TempDir(t)
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFakeIAM(t, func(url.Values) (int, string) { return 200, "{}" })
	tests := []struct {
		name, file, profile, want string
	}{
		{"missing file", filepath.Join(dir, "missing"), "p", "tokensource: auth.cr_token_file: cannot read " + filepath.Join(dir, "missing")},
		{"empty file", empty, "p", "tokensource: the CR token file " + empty + " (auth.cr_token_file) is empty"},
		{"no profile", empty, "", "tokensource: the trusted profile exchange needs auth.profile_id, auth.profile_crn or auth.profile_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := f.options(zerolog.Nop())
			opts.CRTokenFile, opts.ProfileID = tt.file, tt.profile
			_, err := NewTrustedProfile(opts).Token(ctxTimeout(t))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want one starting %q", err, tt.want)
			}
		})
	}
	t.Run("no file given, no default present", func(t *testing.T) {
		for _, p := range defaultCRTokenFiles {
			if _, err := os.Stat(p); err == nil {
				t.Skipf("%s exists on this machine", p)
			}
		}
		opts := f.options(zerolog.Nop())
		opts.ProfileID = "p"
		_, err := NewTrustedProfile(opts).Token(ctxTimeout(t))
		if err == nil || !strings.Contains(err.Error(), "/var/run/secrets/tokens/vault-token") || !strings.Contains(err.Error(), "set auth.cr_token_file") {
			t.Errorf("error %v, want one naming the default files and auth.cr_token_file", err)
		}
	})
	if n := len(f.requests()); n != 0 {
		t.Errorf("IAM got %d requests, want none", n)
	}
}

// TestIAMVerifiesTLS: a client that does not trust IAM's certificate sends nothing.
func TestIAMVerifiesTLS(t *testing.T) {
	f := newFakeIAM(t, func(url.Values) (int, string) { return 200, "{}" })
	opts := f.options(zerolog.Nop())
	opts.Client = &http.Client{Transport: &http.Transport{}} // system roots only
	defer opts.Client.CloseIdleConnections()
	_, err := NewIAM(opts).Token(ctxTimeout(t))
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Errorf("error %v, want an unknown authority", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("IAM got %d requests, want none", n)
	}
}

// TestIAMNoSecrets: neither the key, the CR token nor the access token shows up in what the
// IAM sources log at debug level or return, through success, refusal and a bad answer.
func TestIAMNoSecrets(t *testing.T) {
	const cr = "cr-SECRET-content-0123456789"
	jwt := iamJWT("acc", t0.Unix()+3600)
	var mode string
	var mu sync.Mutex
	f := newFakeIAM(t, func(form url.Values) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		secret := form.Get("apikey") + form.Get("cr_token")
		switch mode {
		case "refuse":
			return 400, fmt.Sprintf(`{"errorCode":"BXNIM0415E","errorMessage":"bad %s","context":{"requestId":"r"}}`, secret)
		case "garbage":
			return 200, `{"access_token":` + secret
		}
		return 200, iamAnswer(jwt, t0.Unix()+3600, 3600)
	})
	file := filepath.Join(testkit.TempDir(t), "cr")
	if err := os.WriteFile(file, []byte(cr), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	opts := f.options(zerolog.New(logs).Level(zerolog.DebugLevel))
	opts.CRTokenFile, opts.ProfileName = file, "p"
	var texts []string
	for _, src := range []*IAM{NewIAM(opts), NewTrustedProfile(opts)} {
		for _, m := range []string{"", "refuse", "garbage"} {
			mu.Lock()
			mode = m
			mu.Unlock()
			tok, err := src.Token(ctxTimeout(t))
			texts = append(texts, fmt.Sprintf("%v %+v", tok, err), Describe(err))
			if xe, ok := errors.AsType[*ExchangeError](err); ok {
				texts = append(texts, xe.Body, xe.Message)
			}
		}
	}
	all := strings.Join(append(texts, logs.String()), "\n")
	for _, s := range []string{testKey, cr, jwt} {
		if strings.Contains(all, s) {
			t.Errorf("a secret (%d bytes) shows up in logs or errors", len(s))
		}
	}
	if !strings.Contains(all, "[redacted]") {
		t.Error("nothing was redacted; the test may not have driven the refusal")
	}
}
