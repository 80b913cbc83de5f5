package tokensource

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
)

// crToken reads the compute resource token: from CRTokenFile when set, else CRToken, else from
// the first of defaultCRTokenFiles that holds one. Errors name the file and auth.cr_token_file, never the
// content.
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
