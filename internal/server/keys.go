package server

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// APIKeyEnv names the environment variable that may hold the API key. The key is never taken
// from a command-line argument, where every user of the machine could read it.
const APIKeyEnv = "DBAAS_API_KEY"

// keyStore holds the current API key and where it came from. The key is re-read from its file
// on SIGHUP and when the file's modification time changes (Kubernetes rotates mounted secrets
// without a signal).
type keyStore struct {
	path string // auth.api_key_file; "" when the key came from the environment

	mu    sync.Mutex
	key   string
	mtime time.Time
	size  int64
}

// newKeyStore loads the key from auth.api_key_file, or else from DBAAS_API_KEY.
func newKeyStore(path string, getenv func(string) string) (*keyStore, error) {
	ks := &keyStore{path: path}
	if path == "" {
		ks.key = strings.TrimSpace(getenv(APIKeyEnv))
		if ks.key == "" {
			return nil, errors.New("auth: no API key: set auth.api_key_file to the key file " +
				"(the JSON the IBM Cloud console downloads, or the bare key), or set " + APIKeyEnv)
		}
		return ks, nil
	}
	if _, err := ks.reload(); err != nil {
		return nil, err
	}
	return ks, nil
}

// source describes where the key comes from, for a log line; never the key.
func (ks *keyStore) source() string {
	if ks.path == "" {
		return "environment variable " + APIKeyEnv
	}
	return "file " + ks.path
}

// Key returns the current key, for tokensource.ExchangeOptions.Key.
func (ks *keyStore) Key() (string, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.key, nil
}

// reload re-reads the key file. It reports whether the key changed. On an error the old key
// stays.
func (ks *keyStore) reload() (changed bool, err error) {
	if ks.path == "" {
		return false, nil
	}
	st, err := os.Stat(ks.path)
	if err != nil {
		return false, errors.New("auth.api_key_file: cannot read " + ks.path + ": " + errors.Unwrap(err).Error())
	}
	key, err := tokensource.ReadKeyFile(ks.path)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.mtime, ks.size = st.ModTime(), st.Size() // a broken file is reported once, not every poll
	if err != nil {
		return false, err
	}
	changed = key != ks.key
	ks.key = key
	return changed, nil
}

// modified reports whether the key file looks different from when it was last read.
func (ks *keyStore) modified() bool {
	if ks.path == "" {
		return false
	}
	st, err := os.Stat(ks.path)
	if err != nil {
		return false // a file being replaced; the next poll will see it
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return !st.ModTime().Equal(ks.mtime) || st.Size() != ks.size
}

// watch polls the key file every interval until ctx ends and calls onModified when the file
// looks different from when it was last read (onModified re-reads it).
func (ks *keyStore) watch(ctx context.Context, interval time.Duration, onModified func()) {
	if ks.path == "" {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ks.modified() {
			onModified()
		}
	}
}
