package tokensource

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxEpochSeconds is the end of year 9999: a later exp is not a time but garbage.
const maxEpochSeconds = 253402300799

// ParseExpiry reads the exp and iat claims (seconds since the epoch, integer or fraction) from
// the payload of a JWT of the form header.payload.signature. It decodes only: the signature is
// not checked, since the token is the server's business and the proxy only needs to know when
// to fetch a new one. The payload is base64url without padding; padding is tolerated. iat is
// the zero time when absent or unreadable; a missing or unreadable exp is an error. Errors
// never quote the token.
func ParseExpiry(jwt string) (exp, iat time.Time, err error) {
	var claims map[string]json.RawMessage
	if err := payload(jwt, &claims); err != nil || claims == nil {
		return time.Time{}, time.Time{}, cmp.Or(err, errors.New("tokensource: the JWT payload is not a JSON object"))
	}
	raw, ok := claims["exp"]
	if !ok {
		return time.Time{}, time.Time{}, errors.New("tokensource: the JWT carries no exp claim")
	}
	exp, ok = epoch(raw)
	if !ok {
		return time.Time{}, time.Time{}, errors.New("tokensource: the JWT exp claim is not a time in seconds since the epoch")
	}
	if raw, ok := claims["iat"]; ok {
		iat, _ = epoch(raw)
	}
	return exp, iat, nil
}

// AccountID returns the account id in an IBM Cloud IAM token's payload (account.bss), or ""
// when the token is not a JWT or carries none. Like ParseExpiry it decodes; it verifies nothing.
func AccountID(jwt string) string {
	var claims struct {
		Account struct {
			BSS string `json:"bss"`
		} `json:"account"`
	}
	_ = payload(jwt, &claims)
	return claims.Account.BSS
}

// payload decodes the JSON payload of a JWT into v.
func payload(jwt string, v any) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("tokensource: the token is not a JWT (want 3 dot-separated parts)")
	}
	data, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return errors.New("tokensource: the JWT payload is not base64url")
	}
	if json.Unmarshal(data, v) != nil {
		return errors.New("tokensource: the JWT payload is not a JSON object")
	}
	return nil
}

// epoch turns a JSON number of seconds since the epoch into a time. It refuses strings, NaN,
// values below 1 (the first second of 1970 is no expiry either) and values past year 9999.
func epoch(raw json.RawMessage) (time.Time, bool) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s[0] == '"' {
		return time.Time{}, false
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsNaN(f) || f < 1 || f > maxEpochSeconds {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))), true
}
