package tokensource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
)

// maxKeyFile bounds what is read of a key file (a few hundred bytes) or a CR token file (a
// JWT of a few KiB).
const maxKeyFile = 64 << 10

// ReadKeyFile reads an API key from the file at path: either the bare key on one line
// (surrounding white space, a final newline and a UTF-8 byte order mark are ignored) or the
// JSON file the IBM Cloud console downloads, {"name", "description", "createdAt", "apiKey"},
// whose apiKey is used. Errors name the path, never the content.
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
	for _, b := range data {
		if b < 0x21 || b > 0x7e {
			return "", errors.New("the key holds white space, a line break or a character that is not printable ASCII (want one line holding only the key)")
		}
	}
	return string(data), nil
}
