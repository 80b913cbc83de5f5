package tokensource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status is a snapshot of a Cached, for readiness checks and the status page; no secret.
type Status struct {
	// HasToken reports whether a token is held (it may be expired; see Ready).
	HasToken bool
	// UserID, Expiry, Fingerprint and IssuedAt describe the token held; zero without one.
	UserID      string
	Expiry      time.Time
	Fingerprint string
	IssuedAt    time.Time
	// LastRefresh is when the last successful exchange ended; zero before the first.
	LastRefresh time.Time
	// LastError is the error of the last exchange, nil if it succeeded.
	LastError error
	// NextAttempt is the end of the backoff; zero when not backing off.
	NextAttempt time.Time
	// Exchanges counts the exchanges of the underlying Source, Failures the failed ones.
	Exchanges int64
	Failures  int64
	// KeyChanged reports that Reset dropped the token and none has arrived since.
	KeyChanged bool
	// OldToken reports that the first exchange with a new credential failed (LastError) and
	// the token of the previous credential, still good, is served until its margin.
	OldToken bool

	minRemaining time.Duration // the margin of the token held
}

// Ready reports whether the token held has more than its margin left at now and, if not, why,
// in words for a person. While OldToken holds it is ready with a warning as the reason.
func (s Status) Ready(now time.Time) (bool, string) {
	if !s.HasToken {
		switch {
		case s.LastError == nil && s.KeyChanged:
			return false, "no token: the API key changed; waiting for a token with the new key"
		case s.LastError == nil && !s.LastRefresh.IsZero():
			return false, "no token: the upstream rejected the last one; fetching a new one"
		case s.LastError == nil:
			return false, "no token yet: the first token exchange has not finished"
		}
		return false, "no token yet: " + s.cause(now)
	}
	left := s.Expiry.Sub(now)
	if s.OldToken && (s.Expiry.IsZero() || left > s.minRemaining) {
		return true, "serving the token of the previous credential until it expires (" + s.Expiry.UTC().Format(time.RFC3339) +
			"): the new credential failed: " + s.cause(now)
	}
	if s.Expiry.IsZero() || left > s.minRemaining {
		return true, ""
	}
	msg := "token expired"
	if left > 0 {
		msg = fmt.Sprintf("token expires in %s, within its %s margin", left.Round(time.Millisecond), s.minRemaining)
	}
	if s.LastError == nil {
		return false, msg + "; a refresh is due"
	}
	return false, msg + "; last refresh failed: " + s.cause(now)
}

// cause describes LastError and the backoff.
func (s Status) cause(now time.Time) string {
	msg := Describe(s.LastError)
	if s.NextAttempt.After(now) {
		msg += "; next attempt in " + s.NextAttempt.Sub(now).Round(time.Second).String()
	}
	return msg
}

// Describe says in words for a person why a token could not be had, e.g. "IBM Cloud IAM
// rejected the API key (400 BXNIM0415E: ...)"; nil gives "".
func Describe(err error) string {
	xe, _ := errors.AsType[*ExchangeError](err)
	re, _ := errors.AsType[*ResponseError](err)
	switch {
	case err == nil:
		return ""
	case xe != nil && xe.Status == 0 && errors.Is(err, context.DeadlineExceeded):
		return xe.endpoint() + " did not answer in time"
	case xe != nil && xe.Rejected():
		credential := xe.Credential
		if credential == "" {
			credential = "the API key"
		}
		return fmt.Sprintf("%s rejected %s (%d%s)", xe.endpoint(), credential, xe.Status, xe.code())
	case xe != nil && xe.Status != 0:
		return fmt.Sprintf("%s answered %d%s", xe.endpoint(), xe.Status, xe.code())
	case re != nil:
		return "the token endpoint answered without a usable token (" + re.Reason + ")"
	case errors.Is(err, context.DeadlineExceeded):
		return "the token endpoint did not answer in time"
	case errors.Is(err, context.Canceled):
		return "the request ended before a token could be had"
	}
	return strings.TrimPrefix(err.Error(), "tokensource: ")
}

// NoTokenError is returned by Cached.Token and Transport.RoundTrip when no token could be had.
type NoTokenError struct {
	// Err is the cause: an *ExchangeError, a *ResponseError, a context or network error.
	Err error
	// NextAttempt is when the next exchange may happen; zero when not backing off.
	NextAttempt time.Time

	at time.Time // when the error was made, on the Cached's clock
}

// Error says that no token could be had, and why.
func (e *NoTokenError) Error() string {
	if e.Err == nil {
		return "tokensource: no access token"
	}
	return "tokensource: no access token: " + strings.TrimPrefix(e.Err.Error(), "tokensource: ")
}

// Unwrap returns the cause.
func (e *NoTokenError) Unwrap() error { return e.Err }

// RetryAfter returns the time to NextAttempt in whole seconds, at least 1 s (for Retry-After).
func (e *NoTokenError) RetryAfter() time.Duration {
	if e.NextAttempt.IsZero() {
		return time.Second
	}
	at := e.at
	if at.IsZero() {
		at = time.Now()
	}
	return wholeSeconds(e.NextAttempt.Sub(at))
}
