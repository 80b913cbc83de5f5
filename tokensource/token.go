package tokensource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Token is an access token of the DBaaS Manager; String and GoString never print it.
type Token struct {
	// AccessToken is the secret sent as x-auth-token. Never log it.
	AccessToken string
	// UserID is the account id returned with the token; it is not secret.
	UserID string
	// Expiry is when the token stops being valid. The zero value means unknown.
	Expiry time.Time
	// IssuedAt is when the token was obtained (the JWT iat, or the local time of the exchange).
	IssuedAt time.Time
}

// Source returns access tokens. Implementations are safe for concurrent use.
// Token returns when ctx ends, with ctx's error, even if work it started goes on.
type Source interface {
	Token(ctx context.Context) (Token, error)
}

// Fingerprint returns the first 12 hex digits of the SHA-256 of the access token: enough for a
// person to tell two tokens apart, useless to an attacker.
func (t Token) Fingerprint() string {
	if t.AccessToken == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(t.AccessToken))
	return hex.EncodeToString(sum[:6])
}

// String describes the token without revealing it.
func (t Token) String() string {
	return "tokensource.Token{fingerprint=" + t.Fingerprint() + " user_id=" + t.UserID +
		" expiry=" + t.Expiry.UTC().Format(time.RFC3339) + "}"
}

// GoString is String, so that %#v cannot reveal the token either.
func (t Token) GoString() string { return t.String() }
