package tokensource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

const (
	// DefaultIAMURL is IBM Cloud IAM's public base URL (private networks:
	// https://private.iam.cloud.ibm.com).
	DefaultIAMURL = "https://iam.cloud.ibm.com"
	// iamTokenPath follows IAMOptions.URL.
	iamTokenPath = "/identity/token"
	// The grant types of IAM's token endpoint.
	grantAPIKey  = "urn:ibm:params:oauth:grant-type:apikey"
	grantCRToken = "urn:ibm:params:oauth:grant-type:cr-token"
	// maxCRTokenFile bounds what is read of a CR token file: a JWT of a few KiB.
	maxCRTokenFile = 64 << 10
	// maxIAMMessage bounds ExchangeError.Message.
	maxIAMMessage = 200
)

// defaultCRTokenFiles are tried in order when IAMOptions.CRTokenFile is empty: the files that
// go-sdk-core's ContainerAuthenticator reads (github.com/IBM/go-sdk-core/v5,
// core/container_authenticator.go, constants defaultCRTokenFilename1, defaultCRTokenFilename2
// and defaultCRTokenFilename3), where IBM's platforms mount the compute resource token.
var defaultCRTokenFiles = []string{
	"/var/run/secrets/tokens/vault-token",
	"/var/run/secrets/tokens/sa-token",
	"/var/run/secrets/codeengine.cloud.ibm.com/compute-resource-token/token",
}

// IAMOptions configures an IAM source. NewIAM uses Key; NewTrustedProfile uses CRTokenFile,
// ProfileID and ProfileName, and never reads an API key.
type IAMOptions struct {
	// URL is IAM's base URL (config auth.iam_url); the token endpoint is URL +
	// "/identity/token". Empty means DefaultIAMURL.
	URL string
	// Client sends the exchange. Its TLS must verify IAM against the system roots or a given
	// CA pool; redirects are not followed. Required.
	Client *http.Client
	// Key returns the current API key, read at every exchange so that a rotated key is
	// picked up. Required by NewIAM.
	Key func() (string, error)
	// CRTokenFile is the compute resource token file (config auth.cr_token_file), read at
	// every exchange because the platform rotates it. Empty means the first of
	// go-sdk-core's default files that can be read.
	CRTokenFile string
	// ProfileID and ProfileName name the trusted profile (config auth.profile_id,
	// auth.profile_name); NewTrustedProfile needs one or both.
	ProfileID, ProfileName string
	// AccountID is the account id given as each Token's UserID (config auth.account_id).
	// Empty means the token's account.bss claim; without either, Token fails.
	AccountID string
	// DefaultLifetime is assumed when neither the answer nor the JWT gives an expiry. Zero
	// means 55 minutes.
	DefaultLifetime time.Duration
	// Now is the clock. Nil means the wall clock.
	Now func() time.Time
	// Logger receives one debug line per exchange and a warning with IAM's error code and
	// request id when IAM refuses.
	Logger zerolog.Logger
}

// IAM is a Source that obtains IBM Cloud IAM access tokens (POST {URL}/identity/token), with
// an API key (NewIAM) or as a trusted profile with a compute resource token
// (NewTrustedProfile). Every call is one network round trip; wrap it in a Cached. It is safe
// for concurrent use.
//
// A token's Expiry is the earlier of IAM's expiration (or, without it, now + expires_in) and
// the JWT's exp: a token is never kept past what either says.
type IAM struct {
	opts  IAMOptions
	grant string
}

// NewIAM returns an IAM source using the API-key grant. Missing options surface as errors
// from Token, not as panics.
func NewIAM(opts IAMOptions) *IAM { return newIAM(opts, grantAPIKey) }

// NewTrustedProfile returns an IAM source using the compute resource token grant of a
// trusted profile. Missing options surface as errors from Token, not as panics.
func NewTrustedProfile(opts IAMOptions) *IAM { return newIAM(opts, grantCRToken) }

func newIAM(opts IAMOptions, grant string) *IAM {
	if opts.URL == "" {
		opts.URL = DefaultIAMURL
	}
	if opts.DefaultLifetime <= 0 {
		opts.DefaultLifetime = defaultLifetime
	}
	if opts.Now == nil {
		opts.Now = wallClock
	}
	opts.Client = noRedirects(opts.Client)
	return &IAM{opts: opts, grant: grant}
}

// iamResponse is the 200 answer of IAM's token endpoint; refresh_token is not read.
type iamResponse struct {
	AccessToken string  `json:"access_token"`
	ExpiresIn   float64 `json:"expires_in"`
	Expiration  float64 `json:"expiration"`
}

// iamErrorBody is the JSON of IAM's error answers.
type iamErrorBody struct {
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
	Context      struct {
		RequestID string `json:"requestId"`
	} `json:"context"`
}

// Token performs one exchange. A non-2xx answer is an *ExchangeError (Rejected for 400, 401
// and 403, with IAM's Code, Message and RequestID), a 2xx answer without a usable token a
// *ResponseError, anything else a wrapped error; none of them contains the key, the CR token
// or an access token.
func (i *IAM) Token(ctx context.Context) (Token, error) {
	if i.opts.Client == nil {
		return Token{}, errors.New("tokensource: the IAM exchange needs a Client")
	}
	form, secret, credential, err := i.form()
	if err != nil {
		return Token{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(i.opts.URL, "/")+iamTokenPath,
		strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("tokensource: building the IAM token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	start := i.opts.Now()
	resp, err := i.opts.Client.Do(req)
	if err != nil {
		return Token{}, &ExchangeError{Endpoint: "IBM Cloud IAM", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	i.opts.Logger.Debug().Int("status", resp.StatusCode).Int64("duration_ms", i.opts.Now().Sub(start).Milliseconds()).
		Str("credential", credential).Msg("IAM token exchange answered")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Token{}, i.refused(resp, body, secret, credential)
	}
	if err != nil {
		return Token{}, fmt.Errorf("tokensource: reading the IAM token response: %w", err)
	}
	return i.parse(body)
}

// form builds the request body of the grant and returns the secret in it and what it is.
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
	if i.opts.ProfileID == "" && i.opts.ProfileName == "" {
		return nil, "", "", errors.New("tokensource: the trusted profile exchange needs auth.profile_id or auth.profile_name")
	}
	cr, err := i.crToken()
	if err != nil {
		return nil, "", "", err
	}
	form = url.Values{"grant_type": {grantCRToken}, "cr_token": {cr}}
	if i.opts.ProfileID != "" {
		form.Set("profile_id", i.opts.ProfileID)
	}
	if i.opts.ProfileName != "" {
		form.Set("profile_name", i.opts.ProfileName)
	}
	return form, cr, "the trusted profile's CR token", nil
}

// refused makes the *ExchangeError of a non-2xx answer and logs IAM's code and request id.
func (i *IAM) refused(resp *http.Response, body []byte, secret, credential string) error {
	status := resp.StatusCode
	xe := &ExchangeError{Status: status, Body: errorBody(body, secret), Credential: credential,
		Endpoint: "IBM Cloud IAM", RetryAfter: retryAfterHeader(resp.Header.Get("Retry-After"), i.opts.Now())}
	var eb iamErrorBody
	if json.Unmarshal(body, &eb) == nil {
		xe.Code = redact(eb.ErrorCode, 32, secret)
		xe.Message = redact(eb.ErrorMessage, maxIAMMessage, secret)
		xe.RequestID = redact(eb.Context.RequestID, 64, secret)
	}
	i.opts.Logger.Warn().Int("status", status).Str("error_code", xe.Code).Str("request_id", xe.RequestID).
		Str("error_message", xe.Message).Msg("IAM refused the token exchange; IBM support asks for request_id")
	return xe
}

// parse turns a 2xx body into a Token.
func (i *IAM) parse(body []byte) (Token, error) {
	if len(body) > maxTokenResponse {
		return Token{}, &ResponseError{Reason: "larger than 64 KiB"}
	}
	var r iamResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return Token{}, &ResponseError{Reason: "not the expected JSON object", Err: err}
	}
	if r.AccessToken == "" {
		return Token{}, &ResponseError{Reason: "no access_token"}
	}
	account := i.opts.AccountID
	if account == "" {
		if account = AccountID(r.AccessToken); account == "" {
			return Token{}, errors.New("tokensource: the IAM token carries no account id (claim account.bss); set auth.account_id")
		}
	}
	now := i.opts.Now()
	tok := Token{AccessToken: r.AccessToken, UserID: account, IssuedAt: now, Expiry: i.expiry(r, now)}
	if exp, iat, err := ParseExpiry(r.AccessToken); err == nil {
		if !tok.Expiry.IsZero() && !exp.Equal(tok.Expiry) {
			i.opts.Logger.Debug().Time("expiration", tok.Expiry).Time("jwt_exp", exp).
				Msg("IAM's expiration and the token's exp differ; keeping the earlier")
		}
		if tok.Expiry.IsZero() || exp.Before(tok.Expiry) {
			tok.Expiry = exp
		}
		if !iat.IsZero() {
			tok.IssuedAt = iat
		}
	}
	if tok.Expiry.IsZero() {
		tok.Expiry = now.Add(i.opts.DefaultLifetime)
		i.opts.Logger.Info().Int64("assumed_lifetime_ms", i.opts.DefaultLifetime.Milliseconds()).
			Msg("IAM token expiry unknown; assuming the default lifetime")
	}
	return tok, nil
}

// expiry reads the answer's expiration (seconds since the epoch), or else expires_in
// (seconds from now); zero when it has neither.
func (i *IAM) expiry(r iamResponse, now time.Time) time.Time {
	switch {
	case r.Expiration >= 1 && r.Expiration <= maxEpochSeconds:
		sec, frac := math.Modf(r.Expiration)
		return time.Unix(int64(sec), int64(frac*1e9))
	case r.ExpiresIn > 0 && r.ExpiresIn < 1e9:
		return now.Add(time.Duration(r.ExpiresIn * float64(time.Second)))
	}
	return time.Time{}
}
