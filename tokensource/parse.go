package tokensource

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
)

// maxEpochSeconds is the end of year 9999: a later exp is not a time but garbage.
const maxEpochSeconds = 253402300799

// ParseExpiry reads the exp and iat claims (epoch seconds, integer or fraction) from a JWT's
// payload (base64url, padding tolerated). It decodes only: the signature is the server's
// business. iat is zero when absent or unreadable; a bad exp is an error. Errors never quote
// the token.
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
	iat, _ = epoch(claims["iat"]) // zero when absent or unreadable
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

// notPrintable reports whether r is white space or not printable ASCII.
func notPrintable(r rune) bool { return r < 0x21 || r > 0x7e }

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

// epoch turns a JSON number of seconds since the epoch into a time. It refuses strings, null,
// values below 1 (the first second of 1970 is no expiry either) and values past year 9999.
func epoch(raw json.RawMessage) (time.Time, bool) {
	var f float64
	if json.Unmarshal(raw, &f) != nil || f < 1 || f > maxEpochSeconds {
		return time.Time{}, false
	}
	return unixSeconds(f), true
}

// unixSeconds is the time f seconds (with a fraction) after the epoch.
func unixSeconds(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9)))
}

// maxKeyFile bounds what is read of a key file or a CR token file (a JWT of a few KiB).
const maxKeyFile = 64 << 10

// ReadKeyFile reads an API key from the file at path: the bare key (white space, a final newline
// and a UTF-8 BOM ignored) or the IBM Cloud console's JSON download, whose apiKey is used.
// Errors name the path, never the content.
func ReadKeyFile(path string) (string, error) {
	data, err := files.Read("auth.api_key_file", path, maxKeyFile)
	if err != nil {
		return "", fmt.Errorf("tokensource: %w", err)
	}
	key, err := parseKey(data)
	if err != nil {
		return "", fmt.Errorf("tokensource: the API key file %s: %w", path, err)
	}
	return key, nil
}

// parseKey is ReadKeyFile on the content of a file. Errors never quote data.
func parseKey(data []byte) (string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "", errors.New("it is empty")
	}
	if data[0] == '{' {
		var file struct {
			APIKey *string `json:"apiKey"`
		}
		if err := json.Unmarshal(data, &file); err != nil {
			return "", errors.New("it starts with { but is not valid JSON (want the file the IBM Cloud console downloads, or the bare key)")
		}
		if file.APIKey == nil {
			return "", errors.New("the JSON has no apiKey field")
		}
		data = bytes.TrimSpace([]byte(*file.APIKey))
		if len(data) == 0 {
			return "", errors.New("its apiKey is empty")
		}
	}
	if bytes.ContainsFunc(data, notPrintable) {
		return "", errors.New("the key holds white space, a line break or a character that is not printable ASCII (want one line holding only the key)")
	}
	return string(data), nil
}
