package tokensource

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

const (
	// maxTokenResponse caps what Exchange reads of the token endpoint's answer.
	maxTokenResponse = 64 << 10
	// maxErrorBody caps ExchangeError.Body.
	maxErrorBody = 256
	// defaultLifetime is assumed for a token whose exp cannot be read.
	defaultLifetime = 55 * time.Minute
	// redacted replaces the API key wherever it shows up in a body we keep.
	redacted = "[redacted]"
)

// ExchangeOptions configures an Exchange.
type ExchangeOptions struct {
	// URL is the full token URL, e.g. https://host:20000/api/v1/auth/token. Required.
	URL string
	// Client sends the exchange; it should trust exactly the DBaaS CA file. Required.
	Client *http.Client
	// Key returns the current API key, called per exchange to pick up a rotated key. Required.
	Key func() (string, error)
	// DefaultLifetime is assumed when the token's JWT has no readable exp. Zero means 55 minutes.
	DefaultLifetime time.Duration
	// Now is the clock. Nil means wallClock.
	Now func() time.Time
	// Logger receives one debug line per exchange and an info line when exp is unreadable.
	Logger zerolog.Logger
}

// Exchange trades an API key for an access token, one network round trip per Token call. It
// is a Source, safe for concurrent use; wrap it in a Cached to reuse tokens.
type Exchange struct {
	opts ExchangeOptions
}

// NewExchange returns an Exchange using opts; missing options surface as errors from Token.
func NewExchange(opts ExchangeOptions) *Exchange {
	opts.DefaultLifetime = cmp.Or(max(opts.DefaultLifetime, 0), defaultLifetime)
	if opts.Now == nil {
		opts.Now = wallClock
	}
	opts.Client = noRedirects(opts.Client)
	return &Exchange{opts: opts}
}

// noRedirects returns a copy of c (nil stays nil) that follows no redirect: net/http copies
// custom headers, api_key among them, to every redirect target, even an http:// one, and a
// 307 or 308 resends a form with its credential. A 3xx is an answer, an *ExchangeError.
func noRedirects(c *http.Client) *http.Client {
	if c == nil {
		return nil
	}
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// Token performs one exchange: GET URL with the api_key header. A failed answer is an
// *ExchangeError, a bad 2xx one a *ResponseError; no error contains the key or a token.
func (e *Exchange) Token(ctx context.Context) (Token, error) {
	if e.opts.Client == nil || e.opts.Key == nil || e.opts.URL == "" {
		return Token{}, errors.New("tokensource: the exchange needs a URL, a Client and a Key")
	}
	key, err := e.opts.Key()
	if err != nil {
		return Token{}, fmt.Errorf("tokensource: getting the API key: %w", err)
	}
	if key == "" {
		return Token{}, errors.New("tokensource: the API key is empty")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.opts.URL, nil)
	if err != nil {
		return Token{}, fmt.Errorf("tokensource: building the token request: %w", err)
	}
	req.Header["api_key"] = []string{key} // exactly as the API documents it, lower case
	req.Header["accept"] = []string{"application/json"}
	start := e.opts.Now()
	endpoint := "the DBaaS token endpoint " + req.URL.Host
	resp, err := e.opts.Client.Do(req)
	if err != nil {
		return Token{}, &ExchangeError{Endpoint: endpoint, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	e.opts.Logger.Debug().Int("status", resp.StatusCode).Int64("duration_ms", e.opts.Now().Sub(start).Milliseconds()).
		Msg("token exchange answered")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Token{}, &ExchangeError{Status: resp.StatusCode, Body: errorBody(body, key),
			Endpoint: endpoint, RetryAfter: retryAfterHeader(resp.Header.Get("Retry-After"), start)}
	}
	if err != nil {
		return Token{}, fmt.Errorf("tokensource: reading the token response: %w", err)
	}
	return e.parse(body)
}

// parse turns a 2xx body into a Token.
func (e *Exchange) parse(body []byte) (Token, error) {
	if len(body) > maxTokenResponse {
		return Token{}, &ResponseError{Reason: "larger than 64 KiB"}
	}
	var r struct {
		AccessToken string `json:"access_token"`
		UserID      string `json:"user_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Token{}, &ResponseError{Reason: "not the expected JSON object", Err: err}
	}
	if r.AccessToken == "" {
		return Token{}, &ResponseError{Reason: "no access_token"}
	}
	if strings.ContainsFunc(r.AccessToken, notPrintable) { // it could never be sent as a header
		return Token{}, &ResponseError{Reason: "the token holds white space or a character a header cannot carry"}
	}
	if r.UserID == "" {
		// IBM documents user_id in every answer; if one lacks it, the IAM token's account.bss
		// is the same account id. Without either the token still serves requests that name the
		// account themselves; only /me/ and the local token endpoint need the id.
		r.UserID = AccountID(r.AccessToken)
		e.opts.Logger.Warn().Str("user_id_from_token", r.UserID).
			Msg("the token endpoint answered without user_id; /me/ paths need it")
	}
	now := e.opts.Now()
	tok := Token{AccessToken: r.AccessToken, UserID: r.UserID, IssuedAt: now}
	exp, iat, err := ParseExpiry(r.AccessToken)
	if err != nil {
		tok.Expiry = now.Add(e.opts.DefaultLifetime)
		e.opts.Logger.Info().Str("reason", err.Error()).Int64("assumed_lifetime_ms", e.opts.DefaultLifetime.Milliseconds()).
			Str("user_id", r.UserID).Msg("token expiry unreadable; assuming the default lifetime")
		return tok, nil
	}
	tok.Expiry = exp
	if !iat.IsZero() {
		tok.IssuedAt = iat
	}
	return tok, nil
}

// errorBody is the kept part of an error answer: secrets redacted, cut to maxErrorBody bytes.
func errorBody(body []byte, secrets ...string) string {
	return redact(string(body), maxErrorBody, secrets...)
}

// redact replaces each non-empty secret in s, also URL-escaped, and then every 12 bytes in a
// row of it (a server may echo part of a key, or an escaped form), and cuts the result to
// limit bytes of valid UTF-8.
func redact(s string, limit int, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(strings.ReplaceAll(s, secret, redacted), url.QueryEscape(secret), redacted)
		}
		for i := 0; i+12 <= len(secret); i++ {
			s = strings.ReplaceAll(s, secret[i:i+12], redacted)
		}
	}
	if len(s) > limit {
		s = s[:limit]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(strings.ToValidUTF8(s, "?"))
}

// ExchangeError is the failure of a token endpoint, the shared error of every Source: a
// non-2xx answer, or (Status 0) no answer at all, Err saying why.
type ExchangeError struct {
	// Status is the HTTP status code; 0 when no answer came.
	Status int
	// Body is the start of the answer's body (at most 256 bytes), with the credential removed.
	Body string
	// Code, Message and RequestID are IAM's errorCode (e.g. BXNIM0415E), errorMessage (with
	// the credential removed) and context.requestId (what IBM support asks for), when the
	// answer carried them; empty otherwise.
	Code, Message, RequestID string
	// Credential names what the endpoint was given, for messages: "" means the API key.
	Credential string
	// Endpoint names what answered, for messages: "the DBaaS token endpoint HOST", "IBM Cloud
	// IAM", "the VPC metadata service", "the token command NAME". Empty means "token endpoint".
	Endpoint string
	// RetryAfter is the delay of the answer's Retry-After header; zero if it had none.
	RetryAfter time.Duration
	// Err is why no answer came (Status 0): a network error or the exchange's timeout.
	Err error
}

// Error reports the endpoint, the status and the body, or why the endpoint gave no answer.
func (e *ExchangeError) Error() string {
	if e.Status == 0 {
		return "tokensource: " + e.endpoint() + ": " + strings.TrimPrefix(fmt.Sprint(e.Err), "tokensource: ")
	}
	msg := fmt.Sprintf("tokensource: %s answered %d %s", e.endpoint(), e.Status, http.StatusText(e.Status))
	msg = strings.TrimSpace(msg)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Unwrap returns Err.
func (e *ExchangeError) Unwrap() error { return e.Err }

func (e *ExchangeError) endpoint() string {
	if e.Endpoint == "" {
		return "the token endpoint"
	}
	return e.Endpoint
}

// code is " CODE: message" when the answer carried IAM's errorCode, else "".
func (e *ExchangeError) code() string {
	if e.Code == "" {
		return ""
	}
	return " " + e.Code + ": " + e.Message
}

// Rejected reports whether the status means that the API key was refused (400, 401 or 403):
// retrying will not help until the key changes.
func (e *ExchangeError) Rejected() bool {
	return e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// retryAfterHeader reads the value of a Retry-After header (seconds or an HTTP date, taken
// relative to now); zero when empty, unreadable or in the past.
func retryAfterHeader(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(max(0, min(secs, 86400))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

// ResponseError is a 2xx answer of the token endpoint that does not carry a usable token.
type ResponseError struct {
	// Reason says what is wrong, e.g. "no access_token".
	Reason string
	// Err is the decoding error, if any.
	Err error
}

// Error reports the reason. It never quotes the body.
func (e *ResponseError) Error() string {
	return "tokensource: malformed token response: " + e.Reason
}

// Unwrap returns the decoding error, if any.
func (e *ResponseError) Unwrap() error { return e.Err }
