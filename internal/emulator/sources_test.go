package emulator

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIAMAssumeGrant: the assume grant takes an access token of the emulator's and the
// profile by id, CRN or name with its account; an unknown profile is IAM's BXNIM0467E.
func TestIAMAssumeGrant(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{})
	access := s.IssueToken()
	id, name := s.TrustedProfile()
	accept := "Accept: application/json"
	for _, tc := range []struct {
		name   string
		form   []string
		status int
		code   string
	}{
		{"profile_id", []string{"profile_id", id}, 200, ""},
		{"profile_crn", []string{"profile_crn", s.TrustedProfileCRN()}, 200, ""},
		{"profile_name", []string{"profile_name", name, "account", s.UserID()}, 200, ""},
		{"unknown profile", []string{"profile_id", "Profile-x"}, 400, IAMCodeNoProfile},
		{"name in another account", []string{"profile_name", name, "account", "other"}, 400, IAMCodeNoProfile},
		{"no profile", nil, 400, IAMCodeMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := iamForm(append([]string{"grant_type", grantTypeAssume, "access_token", access}, tc.form...)...)
			a := do(t, c, "POST", s.URL()+"/identity/token", form, formCT, accept)
			if tc.code != "" {
				wantIAMError(t, a, tc.status, tc.code)
				return
			}
			if a.status != 200 {
				t.Fatalf("status %d body %s", a.status, a.body)
			}
			if _, ok := s.auth.check(decode(t, a.body)["access_token"].(string), time.Now()); !ok {
				t.Errorf("the profile's token is not accepted by the API")
			}
		})
	}
	a := do(t, c, "POST", s.URL()+"/identity/token", iamForm("grant_type", grantTypeAssume, "access_token", "forged", "profile_id", id), formCT, accept)
	wantIAMError(t, a, 400, IAMCodeInvalid)
}

// TestIAMThrottled: a 429 fault on IAM answers IAM's error shape with Retry-After, as many
// times as asked, then the grant works again.
func TestIAMThrottled(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{})
	s.SetFault("/identity/token", Fault{Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second, Times: 2})
	form := iamForm("grant_type", grantTypeAPIKey, "apikey", s.APIKey())
	for i := 0; i < 2; i++ {
		a := do(t, c, "POST", s.URL()+"/identity/token", form, formCT, "Accept: application/json")
		wantIAMError(t, a, http.StatusTooManyRequests, iamErrGeneric)
		if got := a.header.Get("Retry-After"); got != "3" {
			t.Errorf("Retry-After %q, want 3", got)
		}
	}
	iamTokenFor(t, s, c, form)
}

// TestMetadataService: IBM's two calls over plain HTTP; the identity token is needed for the
// second; an unlinked profile and a missing Metadata-Flavor are refused in the VPC API's error
// shape; a disabled service answers nothing.
func TestMetadataService(t *testing.T) {
	s := start(t, Options{Metadata: true})
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	base := s.MetadataURL() + "/instance_identity/v1/"
	flavor := "Metadata-Flavor: ibm"
	a := do(t, c, "PUT", base+"token?version=2022-03-01", `{"expires_in": 300}`, flavor, "Content-Type: application/json")
	if a.status != 200 {
		t.Fatalf("PUT token: %d %s", a.status, a.body)
	}
	identity := decode(t, a.body)["access_token"].(string)
	for _, tc := range []struct {
		name, body, auth string
		status           int
	}{
		{"default profile", "", "Bearer " + identity, 200},
		{"profile crn", `{"trusted_profile": {"crn": "` + s.TrustedProfileCRN() + `"}}`, "Bearer " + identity, 200},
		{"unlinked profile", `{"trusted_profile": {"id": "Profile-x"}}`, "Bearer " + identity, 400},
		{"no identity token", "", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, c, "POST", base+"iam_token?version=2022-03-01", tc.body, flavor, "Authorization: "+tc.auth)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", a.status, tc.status, a.body)
			}
			if tc.status != 200 && !strings.Contains(string(a.body), `"errors":[{"code":`) {
				t.Errorf("body %s, want the VPC API's error shape", a.body)
			}
		})
	}
	if a := do(t, c, "PUT", base+"token?version=2022-03-01", `{}`); a.status != 400 {
		t.Errorf("PUT without Metadata-Flavor: %d, want 400", a.status)
	}
	s.SetMetadataDisabled(true)
	if _, err := c.Post(base+"token?version=2022-03-01", "application/json", nil); err == nil {
		t.Errorf("the disabled service answered")
	}
}
