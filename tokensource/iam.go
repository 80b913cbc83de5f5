package tokensource

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
	"github.com/rs/zerolog"
)

const (
	// DefaultIAMURL is IBM Cloud IAM's public URL (private: https://private.iam.cloud.ibm.com).
	DefaultIAMURL = "https://iam.cloud.ibm.com"
	// The grant types of IAM's token endpoint.
	grantAPIKey  = "urn:ibm:params:oauth:grant-type:apikey"
	grantCRToken = "urn:ibm:params:oauth:grant-type:cr-token"
	grantAssume  = "urn:ibm:params:oauth:grant-type:assume"
)

// defaultCRTokenFiles are tried in order without CRTokenFile and CRToken: where IBM's platforms
// mount the compute resource token, as go-sdk-core's ContainerAuthenticator reads them.
var defaultCRTokenFiles = []string{
	"/var/run/secrets/tokens/vault-token",
	"/var/run/secrets/tokens/sa-token",
	"/var/run/secrets/codeengine.cloud.ibm.com/compute-resource-token/token",
}

// IAMOptions configures the sources of IAM access tokens. Only NewIAM reads an API key;
// NewCommand uses only AccountID, DefaultLifetime, Now and Logger.
type IAMOptions struct {
	// URL is IAM's base URL (auth.iam_url; empty: DefaultIAMURL), or for NewVPC the metadata
	// service's (auth.metadata_url; empty: DefaultMetadataURL).
	URL string
	// Client sends the exchange. Its TLS must verify IAM against the system roots or a given
	// CA pool; redirects are not followed. Required but by NewCommand.
	Client *http.Client
	// Key returns the API key, read at every exchange to pick up rotation. Required by NewIAM.
	Key func() (string, error)
	// CRTokenFile (auth.cr_token_file) is read at every exchange: the platform rotates it. Empty
	// means CRToken, else the first readable of go-sdk-core's default files.
	CRTokenFile string
	// CRToken is the compute resource token itself (IBMCLOUD_CR_TOKEN); "" means none.
	CRToken string
	// ProfileID, ProfileCRN, ProfileName (auth.profile_id/_crn/_name) name the trusted profile:
	// NewTrustedProfile needs one; with NewIAM one makes the assume grant; NewVPC takes the id or
	// CRN, and without either gets the instance's default profile.
	ProfileID, ProfileCRN, ProfileName string
	// AccountID is each Token's UserID (auth.account_id) and the account of ProfileName in the
	// assume grant. Empty means the token's account.bss claim; without either, Token fails.
	AccountID string
	// DefaultLifetime applies when neither answer nor JWT gives an expiry. Zero means 55 min.
	DefaultLifetime time.Duration
	// Now is the clock. Nil means the wall clock.
	Now func() time.Time
	// Logger receives one debug line per round trip and a warning with the error code and
	// request id when the endpoint refuses.
	Logger zerolog.Logger
}

// IAM is a Source of IBM Cloud IAM access tokens (POST {URL}/identity/token) by the API-key
// grant (NewIAM), then the assume grant when a profile is named, or a trusted profile's CR
// token grant (NewTrustedProfile). Safe for concurrent use; wrap it in a Cached. A token's
// Expiry is the earlier of IAM's expiration (else now + expires_in) and the JWT's exp.
type IAM struct {
	opts  IAMOptions
	grant string
}

// NewIAM returns an IAM source using the API-key grant, followed by the assume grant when
// opts names a profile. Missing options surface as errors from Token, not as panics.
func NewIAM(opts IAMOptions) *IAM { return newIAM(opts, grantAPIKey) }

// NewTrustedProfile is like NewIAM with the compute resource token grant of a trusted profile.
func NewTrustedProfile(opts IAMOptions) *IAM { return newIAM(opts, grantCRToken) }

func newIAM(opts IAMOptions, grant string) *IAM {
	opts.URL = cmp.Or(opts.URL, DefaultIAMURL)
	return &IAM{opts: withDefaults(opts), grant: grant}
}

// withDefaults fills in the defaults of the options every source shares.
func withDefaults(opts IAMOptions) IAMOptions {
	opts.DefaultLifetime = cmp.Or(max(opts.DefaultLifetime, 0), defaultLifetime)
	if opts.Now == nil {
		opts.Now = wallClock
	}
	opts.Client = noRedirects(opts.Client)
	return opts
}

// answer is the JSON that carries a token: the 200 answers of IAM and of the metadata
// service, and a token command's output. refresh_token is not read.
type answer struct {
	AccessToken string  `json:"access_token"`
	IAMToken    string  `json:"iam_token"`
	Token       string  `json:"token"`
	ExpiresIn   float64 `json:"expires_in"`
	Expiration  float64 `json:"expiration"`
	ExpiresAt   string  `json:"expires_at"`
}

// errorAnswer is the JSON of IAM's and the metadata service's error answers.
type errorAnswer struct {
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
	Context      struct {
		RequestID string `json:"requestId"`
	} `json:"context"`
	Errors []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
	Trace string `json:"trace"`
}

// Token performs one exchange (two for the assume grant). A non-2xx answer is an *ExchangeError
// (Rejected for 400, 401 and 403), a 2xx one without a usable token a *ResponseError; no error
// contains the key, the CR token or an access token.
func (i *IAM) Token(ctx context.Context) (Token, error) {
	form, secret, credential, err := i.form()
	if err != nil {
		return Token{}, err
	}
	body, err := i.post(ctx, form, credential, secret)
	if err == nil && i.grant == grantAPIKey && i.profile() {
		var access string
		if access, _, err = decodeAnswer(body, i.opts.Now()); err != nil {
			return Token{}, err
		}
		body, err = i.post(ctx, i.assumeForm(access), "the API key's token (assume grant)", access)
	}
	if err != nil {
		return Token{}, err
	}
	access, expiry, err := decodeAnswer(body, i.opts.Now())
	if err != nil {
		return Token{}, err
	}
	return newToken(access, expiry, &i.opts)
}

// post sends form to IAM's token endpoint and returns the body of a 2xx answer.
func (i *IAM) post(ctx context.Context, form url.Values, credential, secret string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(i.opts.URL, "/")+"/identity/token",
		strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("tokensource: building the IAM token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return send(&i.opts, req, "IBM Cloud IAM", credential, secret)
}

// profile reports whether the options name a trusted profile.
func (i *IAM) profile() bool {
	return i.opts.ProfileID != "" || i.opts.ProfileCRN != "" || i.opts.ProfileName != ""
}

// assumeForm is the assume grant's form: the API key's access token and the profile.
func (i *IAM) assumeForm(access string) url.Values {
	form := url.Values{"grant_type": {grantAssume}, "access_token": {access}}
	switch {
	case i.opts.ProfileCRN != "":
		form.Set("profile_crn", i.opts.ProfileCRN)
	case i.opts.ProfileID != "":
		form.Set("profile_id", i.opts.ProfileID)
	default:
		form.Set("profile_name", i.opts.ProfileName)
		form.Set("account", i.opts.AccountID)
	}
	return form
}

// form builds the request body of the first grant and returns the secret in it and what it is.
func (i *IAM) form() (form url.Values, secret, credential string, err error) {
	if i.grant == grantAPIKey {
		if i.opts.Key == nil {
			return nil, "", "", errors.New("tokensource: the IAM exchange needs a Key")
		}
		key, err := i.opts.Key()
		if err != nil {
			return nil, "", "", fmt.Errorf("tokensource: getting the API key: %w", err)
		}
		if key == "" {
			return nil, "", "", errors.New("tokensource: the API key is empty")
		}
		return url.Values{"grant_type": {grantAPIKey}, "apikey": {key}}, key, "the API key", nil
	}
	if !i.profile() {
		return nil, "", "", errors.New("tokensource: the trusted profile exchange needs auth.profile_id, auth.profile_crn or auth.profile_name")
	}
	cr, err := i.crToken()
	if err != nil {
		return nil, "", "", err
	}
	form = url.Values{"grant_type": {grantCRToken}, "cr_token": {cr}}
	for name, v := range map[string]string{"profile_id": i.opts.ProfileID, "profile_crn": i.opts.ProfileCRN, "profile_name": i.opts.ProfileName} {
		if v != "" {
			form.Set(name, v)
		}
	}
	return form, cr, "the trusted profile's CR token", nil
}

// send sends req with o.Client and returns the body of a 2xx answer, else an *ExchangeError
// naming endpoint (code, message, request id, Retry-After) with every secret removed.
func send(o *IAMOptions, req *http.Request, endpoint, credential string, secrets ...string) ([]byte, error) {
	if o.Client == nil {
		return nil, errors.New("tokensource: the exchange with " + endpoint + " needs a Client")
	}
	start := o.Now()
	resp, err := o.Client.Do(req)
	if err != nil {
		return nil, &ExchangeError{Endpoint: endpoint, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	o.Logger.Debug().Str("endpoint", endpoint).Int("status", resp.StatusCode).
		Int64("duration_ms", o.Now().Sub(start).Milliseconds()).Str("credential", credential).Msg("token exchange answered")
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, refused(o, resp, body, endpoint, credential, secrets)
	case err != nil:
		return nil, fmt.Errorf("tokensource: reading the answer of %s: %w", endpoint, err)
	case len(body) > maxTokenResponse:
		return nil, &ResponseError{Reason: "larger than 64 KiB"}
	}
	return body, nil
}

// refused makes the *ExchangeError of a non-2xx answer and logs its code and request id.
func refused(o *IAMOptions, resp *http.Response, body []byte, endpoint, credential string, secrets []string) error {
	xe := &ExchangeError{Status: resp.StatusCode, Body: errorBody(body, secrets...), Credential: credential,
		Endpoint: endpoint, RetryAfter: retryAfterHeader(resp.Header.Get("Retry-After"), o.Now())}
	var ea errorAnswer
	if json.Unmarshal(body, &ea) == nil {
		code, msg, id := ea.ErrorCode, ea.ErrorMessage, ea.Context.RequestID
		if len(ea.Errors) > 0 { // the metadata service's shape
			code, msg, id = ea.Errors[0].Code, ea.Errors[0].Message, ea.Trace
		}
		xe.Code = redact(code, 32, secrets...)
		xe.Message = redact(msg, 200, secrets...)
		xe.RequestID = redact(id, 64, secrets...)
	}
	o.Logger.Warn().Str("endpoint", endpoint).Int("status", xe.Status).Str("error_code", xe.Code).Str("request_id", xe.RequestID).
		Str("error_message", xe.Message).Msg("the token exchange was refused; IBM support asks for request_id")
	return xe
}

// decodeAnswer reads the access token (access_token, iam_token or token, without a "Bearer "
// prefix) and the expiry (zero when none is given) from a JSON answer.
func decodeAnswer(body []byte, now time.Time) (string, time.Time, error) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return "", time.Time{}, &ResponseError{Reason: "not the expected JSON object", Err: err}
	}
	access := trimBearer(cmp.Or(a.AccessToken, a.IAMToken, a.Token))
	if access == "" {
		return "", time.Time{}, &ResponseError{Reason: "no access_token"}
	}
	at, _ := time.Parse(time.RFC3339, a.ExpiresAt)
	switch {
	case a.Expiration >= 1 && a.Expiration <= maxEpochSeconds:
		return access, unixSeconds(a.Expiration), nil
	case !at.IsZero():
		return access, at, nil
	case a.ExpiresIn > 0 && a.ExpiresIn < 1e9:
		return access, now.Add(time.Duration(a.ExpiresIn * float64(time.Second))), nil
	}
	return access, time.Time{}, nil
}

// trimBearer removes a "Bearer " prefix (any case) and surrounding white space.
func trimBearer(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 7 && strings.EqualFold(s[:7], "bearer ") {
		s = strings.TrimSpace(s[7:])
	}
	return s
}

// newToken makes the Token of access expiring at the earlier of expiry (zero: unknown) and the
// JWT's exp, else after o.DefaultLifetime; its UserID is o.AccountID, else account.bss.
func newToken(access string, expiry time.Time, o *IAMOptions) (Token, error) {
	if strings.ContainsFunc(access, notPrintable) {
		return Token{}, &ResponseError{Reason: "the token holds white space or a character a header cannot carry"}
	}
	account := cmp.Or(o.AccountID, AccountID(access))
	if account == "" {
		return Token{}, errors.New("tokensource: the token carries no account id (claim account.bss); set auth.account_id")
	}
	now := o.Now()
	tok := Token{AccessToken: access, UserID: account, IssuedAt: now, Expiry: expiry}
	if exp, iat, err := ParseExpiry(access); err == nil {
		if tok.Expiry.IsZero() || exp.Before(tok.Expiry) {
			tok.Expiry = exp
		}
		if !iat.IsZero() {
			tok.IssuedAt = iat
		}
	}
	if tok.Expiry.IsZero() {
		tok.Expiry = now.Add(o.DefaultLifetime)
		o.Logger.Info().Int64("assumed_lifetime_ms", o.DefaultLifetime.Milliseconds()).
			Msg("token expiry unknown; assuming the default lifetime")
	}
	return tok, nil
}

// crToken reads the compute resource token: from CRTokenFile when set, else CRToken, else from
// the first of defaultCRTokenFiles that holds one. Errors name the file, never the content.
func (i *IAM) crToken() (string, error) {
	if i.opts.CRTokenFile != "" {
		return readCRToken(i.opts.CRTokenFile)
	}
	if i.opts.CRToken != "" {
		return i.opts.CRToken, nil
	}
	for _, path := range defaultCRTokenFiles {
		if tok, err := readCRToken(path); err == nil {
			return tok, nil
		}
	}
	return "", fmt.Errorf("tokensource: no CR token in %s; set auth.cr_token_file to the file the platform mounts",
		strings.Join(defaultCRTokenFiles, ", "))
}

// readCRToken reads one CR token file, without surrounding white space.
func readCRToken(path string) (string, error) {
	data, err := files.Read("auth.cr_token_file", path, maxKeyFile)
	if err != nil {
		return "", fmt.Errorf("tokensource: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "", errors.New("tokensource: the CR token file " + path + " (auth.cr_token_file) is empty")
	}
	return string(data), nil
}
