package emulator

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

const formCT = "Content-Type: application/x-www-form-urlencoded"

// iamForm encodes name, value pairs as a form body.
func iamForm(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

// iamTokenFor runs an IAM grant that must succeed and returns the answer's members.
func iamTokenFor(t *testing.T, s *Server, c *http.Client, form string) map[string]any {
	t.Helper()
	a := do(t, c, "POST", s.IAMURL()+"/identity/token", form, formCT, "Accept: application/json")
	if a.status != http.StatusOK {
		t.Fatalf("IAM grant: status %d body %s", a.status, a.body)
	}
	return decode(t, a.body)
}

// wantIAMError checks IAM's error shape.
func wantIAMError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d (body %s)", a.status, status, a.body)
	}
	var e struct {
		ErrorCode    string `json:"errorCode"`
		ErrorMessage string `json:"errorMessage"`
		Context      struct {
			RequestID string `json:"requestId"`
		} `json:"context"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil || e.ErrorCode != code || e.ErrorMessage == "" || e.Context.RequestID == "" {
		t.Errorf("body %s, want errorCode %s, an errorMessage and context.requestId (%v)", a.body, code, err)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

func TestIAMGrants(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{})
	pid, pname := s.TrustedProfile()
	cr := s.CRToken()
	accept := "Accept: application/json"
	cases := []struct {
		name    string
		method  string
		body    string
		headers []string
		status  int
		code    string // IAM errorCode; "" for success
		grant   string // grant_type claim of the token on success
	}{
		{"apikey", "POST", iamForm("grant_type", grantTypeAPIKey, "apikey", s.APIKey(), "response_type", "cloud_iam"),
			[]string{formCT, accept}, 200, "", grantTypeAPIKey},
		{"cr token and profile id", "POST", iamForm("grant_type", grantTypeCRToken, "cr_token", cr, "profile_id", pid),
			[]string{formCT, accept}, 200, "", grantTypeCRToken},
		{"cr token and profile name", "POST", iamForm("grant_type", grantTypeCRToken, "cr_token", cr, "profile_name", pname),
			[]string{formCT, "Accept: text/plain, application/json;q=0.9"}, 200, "", grantTypeCRToken},
		{"wrong key", "POST", iamForm("grant_type", grantTypeAPIKey, "apikey", "not-a-key"),
			[]string{formCT, accept}, 400, IAMCodeKeyNotFound, ""},
		{"no key", "POST", iamForm("grant_type", grantTypeAPIKey), []string{formCT, accept}, 400, IAMCodeMissing, ""},
		{"no grant type", "POST", iamForm("apikey", s.APIKey()), []string{formCT, accept}, 400, IAMCodeMissing, ""},
		{"no body", "POST", "", []string{formCT, accept}, 400, IAMCodeMissing, ""},
		{"unknown grant type", "POST", iamForm("grant_type", "password", "apikey", s.APIKey()),
			[]string{formCT, accept}, 400, IAMCodeInvalid, ""},
		{"json body", "POST", `{"grant_type":"` + grantTypeAPIKey + `","apikey":"` + s.APIKey() + `"}`,
			[]string{"Content-Type: application/json", accept}, 400, IAMCodeMissing, ""},
		{"no accept", "POST", iamForm("grant_type", grantTypeAPIKey, "apikey", s.APIKey()), []string{formCT}, 400, IAMCodeInvalid, ""},
		{"bad form", "POST", "grant_type=%zz", []string{formCT, accept}, 400, IAMCodeInvalid, ""},
		{"wrong cr token", "POST", iamForm("grant_type", grantTypeCRToken, "cr_token", NewCRToken(), "profile_id", pid),
			[]string{formCT, accept}, 400, IAMCodeBadCRToken, ""},
		{"unknown profile id", "POST", iamForm("grant_type", grantTypeCRToken, "cr_token", cr, "profile_id", "Profile-x"),
			[]string{formCT, accept}, 400, IAMCodeNoProfile, ""},
		{"unknown profile name", "POST", iamForm("grant_type", grantTypeCRToken, "cr_token", cr, "profile_name", "other"),
			[]string{formCT, accept}, 400, IAMCodeNoProfile, ""},
		{"no profile", "POST", iamForm("grant_type", grantTypeCRToken, "cr_token", cr), []string{formCT, accept}, 400, IAMCodeMissing, ""},
		{"no cr token", "POST", iamForm("grant_type", grantTypeCRToken, "profile_id", pid), []string{formCT, accept}, 400, IAMCodeMissing, ""},
		{"GET", "GET", "", []string{accept}, 405, iamErrGeneric, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Counters()
			a := do(t, c, tc.method, s.URL()+"/identity/token", tc.body, tc.headers...)
			after := s.Counters()
			for _, secret := range []string{s.APIKey(), cr} {
				if bytes.Contains(a.body, []byte(secret)) {
					t.Errorf("the answer holds a secret the client sent: %s", a.body)
				}
			}
			if after.IAMRequests != before.IAMRequests+1 || after.Requests != before.Requests || after.TokenRequests != before.TokenRequests {
				t.Errorf("counters went from %+v to %+v, want one more IAM request and nothing else", before, after)
			}
			if tc.code != "" {
				wantIAMError(t, a, tc.status, tc.code)
				if tc.status == 405 && a.header.Get("Allow") != "POST" {
					t.Errorf("Allow %q, want POST", a.header.Get("Allow"))
				}
				if tc.status < 500 && after.IAMRejected != before.IAMRejected+1 {
					t.Errorf("IAMRejected went from %d to %d", before.IAMRejected, after.IAMRejected)
				}
				return
			}
			if a.status != 200 {
				t.Fatalf("status %d body %s", a.status, a.body)
			}
			if after.IAMExchanges != before.IAMExchanges+1 || after.TokenExchanges != before.TokenExchanges {
				t.Errorf("IAMExchanges went from %d to %d, TokenExchanges from %d to %d",
					before.IAMExchanges, after.IAMExchanges, before.TokenExchanges, after.TokenExchanges)
			}
			checkIAMAnswer(t, s, c, decode(t, a.body), tc.grant)
		})
	}
}

// checkIAMAnswer checks a successful IAM answer, its token's claims, and that the API accepts
// the token both ways.
func checkIAMAnswer(t *testing.T, s *Server, c *http.Client, m map[string]any, grant string) {
	t.Helper()
	tok, _ := m["access_token"].(string)
	rt, _ := m["refresh_token"].(string)
	if tok == "" || rt == "" || m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || m["scope"] != "ibm openid" {
		t.Fatalf("answer %v, want access_token, refresh_token, token_type Bearer, expires_in 3600, scope", m)
	}
	_, claims := jwtParts(t, tok)
	account, _ := claims["account"].(map[string]any)
	if claims["exp"] != m["expiration"] || claims["exp"].(float64)-claims["iat"].(float64) != 3600 ||
		account["bss"] != s.UserID() || claims["grant_type"] != grant {
		t.Errorf("claims %v with expiration %v, want exp = expiration = iat + 3600, account.bss %s, grant_type %s",
			claims, m["expiration"], s.UserID(), grant)
	}
	for _, h := range []string{bearer(tok), xAuth(tok)} {
		if a := do(t, c, "GET", s.URL()+"/api/v3/"+s.UserID()+"/services", "", h); a.status != 200 {
			t.Errorf("API with %q...: status %d", h[:20], a.status)
		}
	}
}

func TestIAMCRTokenRotation(t *testing.T) {
	s := start(t, Options{ProfileID: "Profile-1234", ProfileName: "prof"})
	c := newClient(t, s, clientOpts{})
	if id, name := s.TrustedProfile(); id != "Profile-1234" || name != "prof" {
		t.Fatalf("TrustedProfile %q %q, want the options", id, name)
	}
	old, fresh := s.CRToken(), NewCRToken()
	grant := func(cr string) answer {
		return do(t, c, "POST", s.IAMURL()+"/identity/token",
			iamForm("grant_type", grantTypeCRToken, "cr_token", cr, "profile_name", "prof"), formCT, "Accept: application/json")
	}
	iamTokenFor(t, s, c, iamForm("grant_type", grantTypeCRToken, "cr_token", old, "profile_id", "Profile-1234"))
	s.SetCRTokens(fresh)
	if s.CRToken() != fresh {
		t.Errorf("CRToken after rotation is not the new token")
	}
	wantIAMError(t, grant(old), 400, IAMCodeBadCRToken)
	if a := grant(fresh); a.status != 200 {
		t.Fatalf("new CR token: status %d body %s", a.status, a.body)
	}
	s.SetTrustedProfile("Profile-5678", "prof2")
	wantIAMError(t, grant(fresh), 400, IAMCodeNoProfile)
	s.SetCRTokens()
	if s.CRToken() != "" {
		t.Error("CRToken after SetCRTokens() is not empty")
	}
}

func TestIAMFault(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{})
	s.SetFault("/identity/token", Fault{Status: 503, Times: 1})
	form := iamForm("grant_type", grantTypeAPIKey, "apikey", s.APIKey())
	wantIAMError(t, do(t, c, "POST", s.URL()+"/identity/token", form, formCT, "Accept: application/json"), 503, iamErrGeneric)
	iamTokenFor(t, s, c, form)
	if got := s.Counters(); got.IAMRequests != 2 || got.IAMExchanges != 1 {
		t.Errorf("counters %+v, want 2 IAM requests and 1 exchange", got)
	}
}

func TestIAMNeverLogsSecrets(t *testing.T) {
	var buf bytes.Buffer
	sw := &safeWriter{w: &buf}
	s, err := Start(Options{Logger: zerolog.New(sw).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s, clientOpts{})
	cr := s.CRToken()
	pid, _ := s.TrustedProfile()
	for _, form := range []string{
		iamForm("grant_type", grantTypeAPIKey, "apikey", s.APIKey()),
		iamForm("grant_type", grantTypeAPIKey, "apikey", s.APIKey()+"x"),
		iamForm("grant_type", grantTypeCRToken, "cr_token", cr, "profile_id", pid),
		iamForm("grant_type", grantTypeCRToken, "cr_token", cr+"x", "profile_id", pid),
	} {
		do(t, c, "POST", s.URL()+"/identity/token", form, formCT, "Accept: application/json")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sw.mu.Lock()
	logs := buf.String()
	sw.mu.Unlock()
	if !strings.Contains(logs, "request_id") {
		t.Fatalf("no IAM error was logged with its request id: %s", logs)
	}
	for _, secret := range []string{s.APIKey(), cr} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret appears in the log: %s", logs)
		}
	}
}

func TestSeparateIAM(t *testing.T) {
	s := start(t, Options{SeparateIAM: true})
	if s.IAMURL() == s.URL() || bytes.Equal(s.IAMCAPEM(), s.CAPEM()) {
		t.Fatalf("IAMURL %s and its CA must differ from URL %s and its CA", s.IAMURL(), s.URL())
	}
	api := newClient(t, s, clientOpts{})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.IAMCAPEM())
	iam := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	t.Cleanup(iam.CloseIdleConnections)
	form := iamForm("grant_type", grantTypeAPIKey, "apikey", s.APIKey())

	// The DBaaS CA does not vouch for IAM, nor the IAM CA for the DBaaS API.
	var unknown x509.UnknownAuthorityError
	if _, err := try(api, "POST", s.IAMURL()+"/identity/token", form, formCT, "Accept: application/json"); !errors.As(err, &unknown) {
		t.Errorf("IAM trusted with the DBaaS CA: error %v, want an unknown authority", err)
	}
	if _, err := try(iam, "GET", s.URL()+"/api/v3/auth/token", "", "api_key: "+s.APIKey()); !errors.As(err, &unknown) {
		t.Errorf("DBaaS trusted with the IAM CA: error %v, want an unknown authority", err)
	}
	// Each listener answers only its own part.
	wantError(t, do(t, api, "POST", s.URL()+"/identity/token", form, formCT, "Accept: application/json"), 404)
	wantIAMError(t, do(t, iam, "GET", s.IAMURL()+"/api/v3/auth/token", "", "api_key: "+s.APIKey()), 404, iamErrGeneric)

	m := iamTokenFor(t, s, iam, form)
	checkIAMAnswer(t, s, api, m, grantTypeAPIKey)
	if got := s.Counters(); got.IAMExchanges != 1 || got.TokenExchanges != 0 {
		t.Errorf("counters %+v, want exactly one IAM exchange", got)
	}
	path := testkit.TempDir(t) + "/iam-ca.pem"
	if err := s.WriteIAMCAFile(path); err != nil {
		t.Fatal(err)
	}
}

// safeWriter serialises writes to w: handlers log from many goroutines.
type safeWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *safeWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
