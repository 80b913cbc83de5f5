package tokensource

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// ParseKey is ReadKeyFile on the content of a file, for the tests of parseKey.
func ParseKey(data []byte) (string, error) {
	key, err := parseKey(data)
	if err != nil {
		return "", fmt.Errorf("tokensource: parsing the API key: %w", err)
	}
	return key, nil
}

func TestParseExpiry(t *testing.T) {
	exp := time.Unix(1772370000, 0)
	iat := time.Unix(1772366400, 0)
	enc := base64.RawURLEncoding.EncodeToString
	padded := base64.URLEncoding.EncodeToString([]byte(`{"exp": 1772370000}`)) // 19 bytes: "==" padding
	tests := []struct {
		name    string
		jwt     string
		exp     time.Time
		iat     time.Time
		wantErr string
	}{
		{name: "valid", jwt: makeJWT(map[string]any{"exp": exp.Unix(), "iat": iat.Unix(), "iss": "https://iam.cloud.ibm.com/identity"}), exp: exp, iat: iat},
		{name: "no iat", jwt: makeJWT(map[string]any{"exp": exp.Unix()}), exp: exp},
		{name: "padding tolerated", jwt: "e30." + padded + ".sig", exp: exp},
		{name: "exp as float", jwt: makeJWT(map[string]any{"exp": 1772370000.5}), exp: exp.Add(500 * time.Millisecond)},
		{name: "exp in exponent form", jwt: "e30." + enc([]byte(`{"exp":1.77237e9}`)) + ".sig", exp: exp},
		{name: "iat garbage is ignored", jwt: makeJWT(map[string]any{"exp": exp.Unix(), "iat": "yesterday"}), exp: exp},
		{name: "no exp", jwt: makeJWT(map[string]any{"iat": iat.Unix()}), wantErr: "tokensource: the JWT carries no exp claim"},
		{name: "exp as string", jwt: makeJWT(map[string]any{"exp": "1772370000"}), wantErr: "exp claim is not a time"},
		{name: "exp null", jwt: "e30." + enc([]byte(`{"exp":null}`)) + ".sig", wantErr: "exp claim is not a time"},
		{name: "exp negative", jwt: makeJWT(map[string]any{"exp": -5}), wantErr: "exp claim is not a time"},
		{name: "exp past year 9999", jwt: makeJWT(map[string]any{"exp": 1e12}), wantErr: "exp claim is not a time"},
		{name: "payload not an object", jwt: "e30." + enc([]byte(`[1,2]`)) + ".sig", wantErr: "payload is not a JSON object"},
		{name: "payload null", jwt: "e30." + enc([]byte(`null`)) + ".sig", wantErr: "payload is not a JSON object"},
		{name: "payload not base64", jwt: "e30.!!!.sig", wantErr: "payload is not base64url"},
		{name: "two parts", jwt: "e30.e30", wantErr: "not a JWT"},
		{name: "garbage", jwt: "opaque-secret-token", wantErr: "not a JWT"},
		{name: "empty", jwt: "", wantErr: "not a JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, iat, err := ParseExpiry(tt.jwt)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if tt.jwt != "" && strings.Contains(err.Error(), tt.jwt) {
					t.Errorf("error %q quotes the token", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseExpiry: %v", err)
			}
			if !exp.Equal(tt.exp) || !iat.Equal(tt.iat) {
				t.Errorf("exp %v iat %v, want %v and %v", exp, iat, tt.exp, tt.iat)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	const key = "AbC_def-0123456789ghijklmnopqrstuvwxyzABCDEF"
	tests := []struct {
		name    string
		data    string
		want    string
		wantErr string
	}{
		{name: "bare", data: key, want: key},
		{name: "bare with newline", data: key + "\n", want: key},
		{name: "bare with CRLF and spaces", data: "  " + key + " \r\n", want: key},
		{name: "byte order mark", data: "\xef\xbb\xbf" + key + "\n", want: key},
		{name: "console JSON file", data: `{"name":"dbaas","description":"","createdAt":"2026-01-01T10:00+0000","apiKey":"` + key + `"}`, want: key},
		{name: "console JSON, indented", data: "{\n  \"name\": \"x\",\n  \"apiKey\": \"" + key + "\"\n}\n", want: key},
		{name: "JSON without apiKey", data: `{"name":"dbaas","api_key":"` + key + `"}`, wantErr: "the JSON has no apiKey field"},
		{name: "JSON with empty apiKey", data: `{"apiKey":" "}`, wantErr: "its apiKey is empty"},
		{name: "broken JSON", data: `{"apiKey":"` + key, wantErr: "is not valid JSON"},
		{name: "empty", data: "", wantErr: "it is empty"},
		{name: "only white space", data: " \n\t\n", wantErr: "it is empty"},
		{name: "two lines", data: key + "\n" + key + "\n", wantErr: "want one line holding only the key"},
		{name: "control character", data: key + "\x00", wantErr: "not printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "tokensource: ") {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), key) {
					t.Errorf("error %q quotes the key", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseKey = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestReadKeyFile(t *testing.T) {
	const key = "k3y-0123456789"
	dir := testkit.TempDir(t)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The operating system's own words for a missing file ("no such file or directory",
	// Windows' "The system cannot find the file specified.").
	_, statErr := os.Stat(filepath.Join(dir, "nope"))
	notFound := errors.Unwrap(statErr).Error()
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr []string
	}{
		{name: "bare", path: write("bare", key+"\n"), want: key},
		{name: "console JSON", path: write("apikey.json", `{"name":"n","apiKey":"`+key+`"}`), want: key},
		{name: "missing path names path", path: filepath.Join(dir, "nope"), wantErr: []string{"tokensource: auth.api_key_file: cannot read", filepath.Join(dir, "nope"), notFound}},
		{name: "empty names path", path: write("empty", ""), wantErr: []string{filepath.Join(dir, "empty"), "it is empty"}},
		{name: "JSON without apiKey names path", path: write("bad.json", `{"key":"`+key+`"}`), wantErr: []string{filepath.Join(dir, "bad.json"), "no apiKey field"}},
		{name: "too large", path: write("large", strings.Repeat("k", 70<<10)), wantErr: []string{"larger than 64 KiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadKeyFile(tt.path)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("ReadKeyFile = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadKeyFile = %q, want an error", got)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
}

func FuzzParseExpiry(f *testing.F) {
	for _, seed := range []string{
		makeJWT(map[string]any{"exp": 1772370000, "iat": 1772366400}),
		makeJWT(map[string]any{"exp": 1.5e9}),
		makeJWT(map[string]any{"exp": "x"}),
		"e30.e30.e30", "a.b.c", "..", "", "e30.eyJleHAiOjF9==.x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, jwt string) {
		exp, iat, err := ParseExpiry(jwt)
		if err != nil {
			if !exp.IsZero() || !iat.IsZero() {
				t.Errorf("error %v with non-zero times %v %v", err, exp, iat)
			}
			if len(jwt) > 8 && strings.Contains(err.Error(), jwt) {
				t.Errorf("error %q quotes its input", err)
			}
			return
		}
		if exp.Unix() <= 0 || exp.Unix() > maxEpochSeconds+1 {
			t.Errorf("exp %v out of range", exp)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	for _, seed := range []string{"key", "key\n", " \n", `{"apiKey":"k"}`, `{"apiKey":null}`, `{"apiKey":"a b"}`, "\xef\xbb\xbfk", "{"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParseKey(data)
		if err != nil {
			if key != "" {
				t.Errorf("error %v with key %q", err, key)
			}
			if len(data) > 8 && strings.Contains(err.Error(), string(data)) {
				t.Errorf("error %q quotes its input", err)
			}
			return
		}
		if key == "" || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r > '~' }) {
			t.Errorf("ParseKey returned %q: want a non-empty one-line printable key", key)
		}
	})
}
