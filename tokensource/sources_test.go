package tokensource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
)

// helperArg makes the test binary, run again by a token command test, act as a command:
// "print TEXT" prints TEXT on stdout, "fail SECRET" writes SECRET to stderr and exits 3,
// "hang" sleeps a minute.
const helperArg = "tokensource-command-helper"

func commandHelper(args []string) {
	switch args[0] {
	case "print":
		fmt.Print(args[1])
	case "fail":
		fmt.Fprint(os.Stderr, "token for you: "+args[1])
		os.Exit(3)
	case "hang":
		time.Sleep(time.Minute)
	}
}

// helperCommand is the argv of the test binary acting as a command.
func helperCommand(t *testing.T, args ...string) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{exe, helperArg}, args...)
}

// TestCommandOutputForms: each form of a token command's output gives the token, with the
// expiry of its JWT, else of the JSON, else the default lifetime.
func TestCommandOutputForms(t *testing.T) {
	jwt := iamJWT("acc-bss", t0.Unix()+1200)
	opaque := "opaque-token-0123456789"
	tests := []struct {
		name, out, want string
		expiry          time.Time
	}{
		{"bare JWT", jwt + "\n", jwt, t0.Add(20 * time.Minute)},
		{"Bearer", "Bearer " + jwt, jwt, t0.Add(20 * time.Minute)},
		{"ibmcloud iam oauth-tokens", `{"iam_token": "Bearer ` + jwt + `", "uaa_token": "x"}`, jwt, t0.Add(20 * time.Minute)},
		{"access_token, JWT exp before expiration", fmt.Sprintf(`{"access_token": %q, "expiration": %d}`, jwt, t0.Unix()+3600), jwt, t0.Add(20 * time.Minute)},
		{"token with expires_in", `{"token": "` + opaque + `", "expires_in": 600}`, opaque, t0.Add(10 * time.Minute)},
		{"token with expiration", fmt.Sprintf(`{"token": "Bearer %s", "expiration": %d}`, opaque, t0.Unix()+900), opaque, t0.Add(15 * time.Minute)},
		{"bare opaque: the default lifetime", opaque, opaque, t0.Add(55 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := NewCommand(helperCommand(t, "print", tt.out), IAMOptions{AccountID: "acc", Now: func() time.Time { return t0 }})
			tok, err := src.Token(ctxTimeout(t))
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != tt.want || !tok.Expiry.Equal(tt.expiry) || tok.UserID != "acc" {
				t.Errorf("token %q expiring %s for %q; want %q expiring %s for acc", tok.AccessToken, tok.Expiry, tok.UserID, tt.want, tt.expiry)
			}
		})
	}
	for _, bad := range []string{"", "{}", `{"token": "two words"}`, "{not json"} {
		_, err := NewCommand(helperCommand(t, "print", bad), IAMOptions{AccountID: "acc"}).Token(ctxTimeout(t))
		if err == nil {
			t.Errorf("output %q: no error", bad)
		}
	}
}

// TestCommandFailureHidesStderr: a failing command's error names the command, its exit
// status and the size of its stderr, never what it wrote there.
func TestCommandFailureHidesStderr(t *testing.T) {
	const secret = "s3cret-refresh-token-0123456789"
	argv := helperCommand(t, "fail", secret)
	var logs strings.Builder
	_, err := NewCommand(argv, IAMOptions{AccountID: "acc", Logger: zerolog.New(&logs)}).Token(ctxTimeout(t))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"the token command ", "exit status 3", fmt.Sprintf("wrote %d bytes to stderr", len("token for you: "+secret))} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !strings.Contains(err.Error(), filepath.Base(argv[0])) {
		t.Errorf("error %q does not name the command", err)
	}
	if strings.Contains(err.Error()+logs.String(), secret) {
		t.Errorf("the command's stderr shows in the error or the log: %v", err)
	}
}

// TestCommandTimeout: a command that hangs is killed at the timeout, and the error says so.
func TestCommandTimeout(t *testing.T) {
	_, err := RunCommand(context.Background(), helperCommand(t, "hang"), 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not finish within 300ms") {
		t.Fatalf("error %v, want a timeout", err)
	}
}

// TestAssumeGrant: with a profile, the API key's token is traded for the profile's with the
// assume grant, for each way of naming the profile; the attached token is the profile's.
func TestAssumeGrant(t *testing.T) {
	keyToken, profileToken := iamJWT("acc-bss", t0.Unix()+3600), iamJWT("acc-bss", t0.Unix()+1800)
	f := newFakeIAM(t, func(form url.Values) (int, string) {
		if form.Get("grant_type") == grantAssume {
			return 200, iamAnswer(profileToken, 0, 1800)
		}
		return 200, iamAnswer(keyToken, 0, 3600)
	})
	tests := []struct {
		name string
		set  func(*IAMOptions)
		want url.Values
	}{
		{"profile_id", func(o *IAMOptions) { o.ProfileID = "Profile-1" }, url.Values{"profile_id": {"Profile-1"}}},
		{"profile_crn", func(o *IAMOptions) { o.ProfileCRN = "crn:v1:bluemix:public:iam-identity::a/acc::profile:Profile-1" },
			url.Values{"profile_crn": {"crn:v1:bluemix:public:iam-identity::a/acc::profile:Profile-1"}}},
		{"profile_name", func(o *IAMOptions) { o.ProfileName, o.AccountID = "readers", "acc-bss" },
			url.Values{"profile_name": {"readers"}, "account": {"acc-bss"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := f.options(zerolog.Nop())
			tt.set(&opts)
			before := len(f.requests())
			tok, err := NewIAM(opts).Token(ctxTimeout(t))
			if err != nil {
				t.Fatal(err)
			}
			got := f.requests()[before:]
			if len(got) != 2 || got[0].form.Get("grant_type") != grantAPIKey {
				t.Fatalf("%d requests; want the API-key grant, then the assume grant", len(got))
			}
			tt.want.Set("grant_type", grantAssume)
			tt.want.Set("access_token", keyToken)
			if got[1].form.Encode() != tt.want.Encode() || got[1].path != "/identity/token" {
				t.Errorf("assume grant sent %s %q, want %q", got[1].path, got[1].form.Encode(), tt.want.Encode())
			}
			if tok.AccessToken != profileToken || !tok.Expiry.Equal(t0.Add(30*time.Minute)) {
				t.Errorf("got the token %s, want the profile's", tok)
			}
		})
	}
}

// TestAssumeGrantRefused: IAM refusing the profile is a rejected *ExchangeError with IAM's
// code, naming IAM; neither the key nor the key's token shows in it or in the log.
func TestAssumeGrantRefused(t *testing.T) {
	keyToken := iamJWT("acc-bss", t0.Unix()+3600)
	f := newFakeIAM(t, func(form url.Values) (int, string) {
		if form.Get("grant_type") == grantAssume {
			return 400, `{"errorCode":"BXNIM0467E","errorMessage":"Trusted profile could not be found.","context":{"requestId":"req-1"}}`
		}
		return 200, iamAnswer(keyToken, 0, 3600)
	})
	var logs strings.Builder
	opts := f.options(zerolog.New(&logs))
	opts.ProfileID = "Profile-unknown"
	_, err := NewIAM(opts).Token(ctxTimeout(t))
	var xe *ExchangeError
	if !errors.As(err, &xe) || !xe.Rejected() || xe.Code != "BXNIM0467E" || xe.RequestID != "req-1" || xe.Endpoint != "IBM Cloud IAM" {
		t.Fatalf("error %#v, want a rejected ExchangeError from IBM Cloud IAM with BXNIM0467E", err)
	}
	for _, secret := range []string{testKey, keyToken} {
		if strings.Contains(err.Error()+logs.String(), secret) {
			t.Errorf("the error or the log holds a secret")
		}
	}
}

// TestRetryAfter: a 429 carries its Retry-After, in seconds or as a date (Cached caps it).
func TestRetryAfter(t *testing.T) {
	for value, want := range map[string]time.Duration{
		"3": 3 * time.Second, "": 0, "soon": 0, "86400": 24 * time.Hour,
		t0.Add(10 * time.Second).Format(http.TimeFormat): 10 * time.Second,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if value != "" {
				w.Header().Set("Retry-After", value)
			}
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		opts := IAMOptions{URL: srv.URL, Client: srv.Client(), Key: func() (string, error) { return testKey, nil }, Now: func() time.Time { return t0 }}
		_, err := NewIAM(opts).Token(ctxTimeout(t))
		srv.Close()
		var xe *ExchangeError
		if !errors.As(err, &xe) || !xe.Temporary() || xe.RetryAfter != want {
			t.Errorf("Retry-After %q: error %v, want a temporary ExchangeError with RetryAfter %s", value, err, want)
		}
	}
}

// fakeMetadata is the VPC instance metadata service over plain HTTP on loopback.
type fakeMetadata struct {
	srv      *httptest.Server
	disabled bool
	mu       sync.Mutex
	got      []string // "METHOD PATH?QUERY flavor=... auth=... body"
}

func newFakeMetadata(t *testing.T, access string) *fakeMetadata {
	f := &fakeMetadata{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, fmt.Sprintf("%s %s flavor=%s auth=%s %s", r.Method, r.URL.RequestURI(),
			r.Header.Get("Metadata-Flavor"), r.Header.Get("Authorization"), body))
		disabled := f.disabled
		f.mu.Unlock()
		switch {
		case disabled:
			http.Error(w, "", http.StatusNotFound)
		case r.URL.Path == "/instance_identity/v1/token":
			_, _ = io.WriteString(w, `{"access_token":"identity-token","expires_in":300}`)
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "expires_in": 3600,
				"expires_at": t0.Add(45 * time.Minute).Format(time.RFC3339), "created_at": t0.Format(time.RFC3339)})
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// TestVPC: the two calls of the metadata service as IBM documents them, with the profile's id,
// its CRN, or no body for the instance's default profile.
func TestVPC(t *testing.T) {
	access := iamJWT("acc-bss", 0)
	f := newFakeMetadata(t, access)
	tests := []struct{ name, id, crn, body string }{
		{"default profile", "", "", ""},
		{"profile id", "Profile-1", "", `{"trusted_profile":{"id":"Profile-1"}}`},
		{"profile crn", "", "crn:v1:p", `{"trusted_profile":{"crn":"crn:v1:p"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.got = nil
			f.mu.Unlock()
			src := NewVPC(IAMOptions{URL: f.srv.URL, Client: f.srv.Client(), ProfileID: tt.id, ProfileCRN: tt.crn, Now: func() time.Time { return t0 }})
			tok, err := src.Token(ctxTimeout(t))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				`PUT /instance_identity/v1/token?version=2022-03-01 flavor=ibm auth= {"expires_in":300}`,
				"POST /instance_identity/v1/iam_token?version=2022-03-01 flavor=ibm auth=Bearer identity-token " + tt.body,
			}
			f.mu.Lock()
			got := strings.Join(f.got, "\n")
			f.mu.Unlock()
			if got != strings.Join(want, "\n") {
				t.Errorf("the metadata service got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
			}
			if tok.AccessToken != access || !tok.Expiry.Equal(t0.Add(45*time.Minute)) || tok.UserID != "acc-bss" {
				t.Errorf("token %s, want the IAM token expiring at expires_at", tok)
			}
		})
	}
	t.Run("disabled", func(t *testing.T) {
		f.mu.Lock()
		f.disabled = true
		f.mu.Unlock()
		_, err := NewVPC(IAMOptions{URL: f.srv.URL, Client: f.srv.Client()}).Token(ctxTimeout(t))
		var xe *ExchangeError
		if !errors.As(err, &xe) || xe.Status != 404 || !strings.Contains(err.Error(), "the VPC metadata service answered 404") {
			t.Errorf("error %v, want the metadata service's 404", err)
		}
	})
}

// FuzzDecodeAnswer: no answer or command output makes decodeAnswer or newToken panic, and a
// token they accept can be sent in a header.
func FuzzDecodeAnswer(f *testing.F) {
	f.Add([]byte(`{"iam_token": "Bearer a.b.c", "expiration": 1}`))
	f.Add([]byte(`{"access_token": "x", "expires_at": "2026-03-01T12:00:00Z", "expires_in": 1e300}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		access, expiry, err := decodeAnswer(data, t0)
		if err != nil {
			return
		}
		tok, err := newToken(access, expiry, &IAMOptions{AccountID: "acc", Now: func() time.Time { return t0 }, DefaultLifetime: time.Hour})
		if err == nil && (tok.AccessToken == "" || strings.ContainsAny(tok.AccessToken, " \r\n\t") || tok.Expiry.IsZero()) {
			t.Errorf("accepted token %q expiring %s", tok.AccessToken, tok.Expiry)
		}
	})
}
