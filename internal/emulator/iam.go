package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	iamTokenPath     = "/identity/token"
	grantTypeAPIKey  = "urn:ibm:params:oauth:grant-type:apikey"
	grantTypeCRToken = "urn:ibm:params:oauth:grant-type:cr-token"
	grantTypeAssume  = "urn:ibm:params:oauth:grant-type:assume"
	maxFormBody      = 64 << 10 // largest IAM form body accepted
	iamTimeLayout    = "02.01.2006 15:04:05:000 MST"
)

// IAM error codes the emulator answers (errorCode of IAM's error shape, always with status
// 400 but for faults, 404 and 405). BXNIM0415E, BXNIM0109E and BXNIM0106E are codes IBM's IAM
// is seen to answer; the codes for a bad CR token, an unknown profile and the generic one are
// the emulator's choice (IBM's public record does not show them).
const (
	IAMCodeKeyNotFound = "BXNIM0415E" // "Provided API key could not be found."
	IAMCodeMissing     = "BXNIM0109E" // "Property missing or empty." (grant_type, apikey, cr_token, profile, form body)
	IAMCodeInvalid     = "BXNIM0106E" // "Validation of property failed." (grant_type value, Accept)
	IAMCodeBadCRToken  = "BXNIM0489E" // emulator's choice: the CR token is not (or no longer) accepted
	IAMCodeNoProfile   = "BXNIM0467E" // emulator's choice: no such trusted profile
	iamErrGeneric      = "BXNIM0100E" // emulator's choice: injected faults, wrong method, wrong path
)

// iamError is IAM's error body.
type iamError struct {
	ErrorCode    string     `json:"errorCode"`
	ErrorMessage string     `json:"errorMessage"`
	ErrorDetails string     `json:"errorDetails,omitempty"`
	Context      iamContext `json:"context"`
}

type iamContext struct {
	RequestID   string `json:"requestId"`
	RequestType string `json:"requestType"`
	UserAgent   string `json:"userAgent"`
	URL         string `json:"url"`
	InstanceID  string `json:"instanceId"`
	ThreadID    string `json:"threadId"`
	Host        string `json:"host"`
	StartTime   string `json:"startTime"`
	EndTime     string `json:"endTime"`
	ElapsedTime string `json:"elapsedTime"`
	Locale      string `json:"locale"`
	ClusterName string `json:"clusterName"`
}

// iamAnswer is IAM's answer to a successful grant.
type iamAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Expiration   int64  `json:"expiration"`
	Scope        string `json:"scope"`
}

// iamToken answers POST /identity/token: the apikey, cr-token and assume grants.
func (e *exchange) iamToken() {
	if e.r.Method != http.MethodPost {
		e.w.Header().Set("Allow", http.MethodPost)
		e.fail(http.StatusMethodNotAllowed, "the IAM token endpoint only answers POST")
		return
	}
	if !acceptsJSON(e.r.Header.Values("Accept")) {
		e.iamFail(http.StatusBadRequest, IAMCodeInvalid, "Validation of property failed.",
			"Header 'Accept' must allow application/json.")
		return
	}
	if mt, _, err := mime.ParseMediaType(e.r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		e.iamFail(http.StatusBadRequest, IAMCodeMissing, "Property missing or empty.",
			"The body must be a form (Content-Type: application/x-www-form-urlencoded).")
		return
	}
	form, ok := e.readForm()
	if !ok {
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		e.missing("grant_type")
	case grantTypeAPIKey:
		e.iamAPIKey(form)
	case grantTypeCRToken:
		e.iamCRToken(form)
	case grantTypeAssume:
		e.iamAssume(form)
	default:
		e.iamFail(http.StatusBadRequest, IAMCodeInvalid, "Validation of property failed.",
			"Property 'grant_type' must be "+grantTypeAPIKey+", "+grantTypeCRToken+" or "+grantTypeAssume+".")
	}
}

// readForm reads the form body, at most maxFormBody bytes.
func (e *exchange) readForm() (url.Values, bool) {
	if e.body == nil {
		e.missing("grant_type")
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(e.w, e.r.Body, maxFormBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		e.iamFail(http.StatusRequestEntityTooLarge, iamErrGeneric, "The request body is too large.", "")
		return nil, false
	}
	form, perr := url.ParseQuery(string(b))
	if err != nil || perr != nil {
		e.iamFail(http.StatusBadRequest, IAMCodeInvalid, "Validation of property failed.",
			"The body is not valid form data.")
		return nil, false
	}
	return form, true
}

func (e *exchange) iamAPIKey(form url.Values) {
	key := form.Get("apikey")
	if key == "" {
		e.missing("apikey")
		return
	}
	account, ok := e.s.auth.accountOf(key)
	if !ok {
		e.iamFail(http.StatusBadRequest, IAMCodeKeyNotFound, "Provided API key could not be found.", "")
		return
	}
	e.iamIssue(account, grantAPIKey)
}

func (e *exchange) iamCRToken(form url.Values) {
	cr := form.Get("cr_token")
	if cr == "" {
		e.missing("cr_token")
		return
	}
	a := e.s.auth
	a.mu.RLock()
	okToken := slices.Contains(a.crTokens, cr)
	a.mu.RUnlock()
	if !okToken {
		e.iamFail(http.StatusBadRequest, IAMCodeBadCRToken, "Provided compute resource token is not valid.",
			"The compute resource token is unknown, expired or was rotated.")
		return
	}
	e.iamProfile(form, "")
}

// iamAssume answers the assume grant: an access token of the emulator's, then the profile.
func (e *exchange) iamAssume(form url.Values) {
	access := form.Get("access_token")
	if access == "" {
		e.missing("access_token")
		return
	}
	if _, ok := e.s.auth.check(access, e.s.now()); !ok {
		e.iamFail(http.StatusBadRequest, IAMCodeInvalid, "Validation of property failed.",
			"Property 'access_token' is not a valid access token.")
		return
	}
	e.iamProfile(form, form.Get("account"))
}

// iamProfile issues a token of the trusted profile that the form names by profile_id,
// profile_crn or profile_name (with account, for the assume grant), or answers
// IAMCodeNoProfile.
func (e *exchange) iamProfile(form url.Values, account string) {
	id, crn, name := form.Get("profile_id"), form.Get("profile_crn"), form.Get("profile_name")
	if id == "" && crn == "" && name == "" {
		e.iamFail(http.StatusBadRequest, IAMCodeMissing, "Property missing or empty.",
			"Property 'profile_id', 'profile_crn' or 'profile_name' either missing or empty.")
		return
	}
	e.s.auth.mu.RLock()
	p := e.s.auth.profile
	e.s.auth.mu.RUnlock()
	if (id != "" && id != p.id) || (crn != "" && crn != p.crn()) || (name != "" && name != p.name) ||
		(account != "" && account != p.account) {
		e.iamFail(http.StatusBadRequest, IAMCodeNoProfile, "Trusted profile could not be found.",
			"No trusted profile with that id, CRN or name trusts this identity.")
		return
	}
	e.iamIssue(p.account, grantCRToken)
}

// iamIssue answers a new token for account.
func (e *exchange) iamIssue(account string, kind grantKind) {
	tok, err := e.s.auth.issue(account, e.s.now(), kind)
	if err != nil {
		e.s.log.Error().Err(err).Msg("emulator: issue token")
		e.iamFail(http.StatusInternalServerError, iamErrGeneric, "Internal error.", "")
		return
	}
	e.writeJSON(http.StatusOK, mustJSON(iamAnswer{
		AccessToken: tok.token, RefreshToken: newRefreshToken(), TokenType: "Bearer",
		ExpiresIn: tok.exp - tok.iat, Expiration: tok.exp, Scope: "ibm openid",
	}))
}

func (e *exchange) missing(prop string) {
	e.iamFail(http.StatusBadRequest, IAMCodeMissing, "Property missing or empty.",
		"Property '"+prop+"' either missing or empty.")
}

// iamFail answers IAM's error shape. Nothing the client sent is echoed in it.
func (e *exchange) iamFail(code int, errCode, msg, details string) {
	if e.body != nil {
		_, _ = io.CopyN(io.Discard, e.body, drainLimit)
	}
	now := e.s.now().UTC()
	reqID := randomHex(4)[:7] + "-" + randomHex(16)
	e.s.log.Debug().Str("path", e.path).Int("status", code).Str("error_code", errCode).
		Str("request_id", reqID).Msg("emulator: IAM " + msg)
	body := mustJSON(iamError{ErrorCode: errCode, ErrorMessage: msg, ErrorDetails: details, Context: iamContext{
		RequestID: reqID, RequestType: "incoming.Identity_Token", UserAgent: e.r.UserAgent(),
		URL: "https://iam.cloud.ibm.com", InstanceID: "iamid-emulator", ThreadID: strconv.Itoa(int(now.UnixNano() % 1e6)),
		Host: "iamid-emulator", StartTime: now.Format(iamTimeLayout), EndTime: now.Format(iamTimeLayout),
		ElapsedTime: "0", Locale: "en_US", ClusterName: "iam-id-emulator",
	}})
	e.writeJSON(code, body)
}

// acceptsJSON reports whether Accept header values allow application/json.
func acceptsJSON(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/json", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}

// NewCRToken returns a fresh compute-resource token, JWT-shaped like a Kubernetes service
// account token, for SetCRTokens.
func NewCRToken() string {
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(map[string]any{ // a map of strings and numbers always encodes
		"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:default:dbaas-proxy",
		"aud": []string{"iam"}, "iat": time.Now().Unix(), "jti": randomUUID(),
	})
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) +
		"." + enc.EncodeToString([]byte(randomHex(32)))
}

// newRefreshToken returns an opaque refresh token; the emulator does not accept it back.
func newRefreshToken() string { return base64.RawURLEncoding.EncodeToString([]byte(randomHex(48))) }

// SetCRTokens replaces the compute-resource tokens the cr-token grant accepts (a rotation:
// SetCRTokens(newToken) makes the old one fail with IAMCodeBadCRToken). No tokens means none
// is accepted. Access tokens already issued stay valid.
func (s *Server) SetCRTokens(tokens ...string) {
	s.auth.mu.Lock()
	s.auth.crTokens = slices.Clone(tokens)
	s.auth.mu.Unlock()
}

// CRToken returns the first accepted compute-resource token (one is generated at Start), or
// "" when SetCRTokens accepted none.
func (s *Server) CRToken() string {
	s.auth.mu.RLock()
	defer s.auth.mu.RUnlock()
	if len(s.auth.crTokens) == 0 {
		return ""
	}
	return s.auth.crTokens[0]
}

// SetTrustedProfile sets the id and name of the trusted profile the cr-token grant logs in
// to (its tokens are for the account UserID). A request naming another id or name fails with
// IAMCodeNoProfile.
func (s *Server) SetTrustedProfile(id, name string) {
	s.auth.mu.Lock()
	s.auth.profile.id, s.auth.profile.name = id, name
	s.auth.mu.Unlock()
}

// TrustedProfileCRN returns the CRN of the trusted profile.
func (s *Server) TrustedProfileCRN() string {
	s.auth.mu.RLock()
	defer s.auth.mu.RUnlock()
	return s.auth.profile.crn()
}

// TrustedProfile returns the id and name of the trusted profile.
func (s *Server) TrustedProfile() (id, name string) {
	s.auth.mu.RLock()
	defer s.auth.mu.RUnlock()
	return s.auth.profile.id, s.auth.profile.name
}

// SetOmitAccountClaim makes the tokens issued from now on carry an empty "account" claim (no
// account.bss), as a token of an identity outside any account would; the server still knows
// their account. It lets a client's fallback to a configured account id be tested.
func (s *Server) SetOmitAccountClaim(omit bool) {
	s.auth.mu.Lock()
	s.auth.noBSS = omit
	s.auth.mu.Unlock()
}
