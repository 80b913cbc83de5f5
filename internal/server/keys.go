package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// APIKeyEnv names the environment variable that may hold the API key. The key is never taken
// from a command-line argument, where every user of the machine could read it.
const APIKeyEnv = "DBAAS_API_KEY"

// IBMCloudAPIKeyEnv is the IBM Cloud CLI's variable for the API key (the key, or @FILE), used
// when neither auth.api_key_file, auth.api_key_command nor DBAAS_API_KEY gives one.
const IBMCloudAPIKeyEnv = "IBMCLOUD_API_KEY"

var keyCommandTimeout = 10 * time.Second

// keyStore holds the current API key and where it came from (api_key_file, api_key_command,
// DBAAS_API_KEY, IBMCLOUD_API_KEY, HPDB_APIKEY). SIGHUP reloads it; api_key_file changes do too
// (Kubernetes rotates mounted secrets without a signal).
type keyStore struct {
	path    string   // auth.api_key_file, or the file of IBMCLOUD_API_KEY=@FILE
	setting string   // which of the two, for errors
	command []string // auth.api_key_command
	label   string   // where the key comes from, for source(); never the key

	mu       sync.Mutex
	key      string
	warnings []string
}

// newKeyStore loads the key from the first source that auth and the environment give.
func newKeyStore(auth config.AuthConfig, getenv func(string) string) (*keyStore, error) {
	ks := &keyStore{path: auth.APIKeyFile, command: auth.APIKeyCommand, setting: "auth.api_key_file"}
	switch {
	case ks.path != "":
		ks.label = "file " + files.Shown(ks.path)
	case len(ks.command) > 0:
		ks.label = "command " + filepath.Base(ks.command[0]) + " (auth.api_key_command)"
	case strings.HasPrefix(getenv(IBMCloudAPIKeyEnv), "@") && getenv(APIKeyEnv) == "":
		ks.path, ks.setting = strings.TrimPrefix(getenv(IBMCloudAPIKeyEnv), "@"), IBMCloudAPIKeyEnv
		ks.label = "environment variable " + IBMCloudAPIKeyEnv + " (@" + files.Shown(ks.path) + ")"
	default:
		return ks, ks.fromEnv(getenv)
	}
	_, err := ks.reload()
	return ks, err
}

func (ks *keyStore) fromEnv(getenv func(string) string) error {
	for _, name := range []string{APIKeyEnv, IBMCloudAPIKeyEnv, "HPDB_APIKEY"} {
		v, source := strings.TrimSpace(getenv(name)), "environment variable "+name
		if name == "HPDB_APIKEY" {
			v, source = config.IBMVar(getenv, name)
		}
		if v != "" {
			if err := plausibleKey(v); err != nil {
				return fmt.Errorf("auth: %s %w", source, err)
			}
			ks.label, ks.key = source, v
			return nil
		}
	}
	return errors.New("auth: no API key: set auth.api_key_file to the key file " +
		"(the JSON the IBM Cloud console downloads, or the bare key), auth.api_key_command to a " +
		"command that prints it, or the environment variable " + APIKeyEnv + " (or " + IBMCloudAPIKeyEnv +
		", HPDB_APIKEY or ibm-credentials.env)")
}

// APIKeySource finds the API key as the server would, for `doctor`: its source and warnings.
func APIKeySource(auth config.AuthConfig, getenv func(string) string) (source string, warnings []string, err error) {
	ks, err := newKeyStore(auth, getenv)
	if err != nil {
		return "", nil, err
	}
	return ks.source(), ks.warnings, nil
}

// KeyWarnings are the risks of the API keys' sources worth a log line at start.
func (a *Server) KeyWarnings() []string {
	var w []string
	for _, id := range a.identities {
		if id.keys != nil { // trusted_profile: no API key
			id.keys.mu.Lock()
			w = append(w, id.keys.warnings...)
			id.keys.mu.Unlock()
		}
	}
	return w
}

// source describes where the key comes from, for a log line; never the key.
func (ks *keyStore) source() string { return ks.label }

// Key returns the current key, for tokensource.ExchangeOptions.Key.
func (ks *keyStore) Key() (string, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.key, nil
}

// reload re-reads the key file or re-runs the key command; on an error the old key stays.
func (ks *keyStore) reload() (changed bool, err error) {
	var key string
	switch {
	case ks.path != "":
		key, err = ks.readFile()
	case len(ks.command) > 0:
		key, err = runKeyCommand(ks.command)
	default:
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	changed = key != ks.key
	ks.key = key
	return changed, nil
}

// readFile reads the key file, noting a mode that lets others read it.
func (ks *keyStore) readFile() (string, error) {
	st, err := os.Stat(ks.path)
	if err != nil {
		return "", errors.New(ks.setting + ": cannot read " + files.Shown(ks.path) + ": " + errors.Unwrap(err).Error())
	}
	key, err := tokensource.ReadKeyFile(ks.path)
	ks.mu.Lock()
	ks.warnings = modeWarning(ks.setting, ks.path, st.Mode())
	ks.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("%s: %w", ks.setting, err)
	}
	if err := plausibleKey(key); err != nil {
		return "", fmt.Errorf("%s: the content of %s %w", ks.setting, ks.path, err)
	}
	return key, nil
}

// modeWarning warns of a key file that group or others may read. Windows has no such mode
// bits (its ACLs are not mapped to them), so there is nothing to check there.
func modeWarning(what, path string, mode os.FileMode) []string {
	if runtime.GOOS == "windows" || mode.Perm()&0o077 == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s: %s is readable by group or others (mode %04o); make it private: chmod 600 %s", what, path, mode.Perm(), path)}
}

// plausibleKey rejects what cannot be an IBM Cloud API key (44 characters of letters, digits,
// - and _): a line such as apikey=..., quotes, or a fragment. Its errors never quote the key.
func plausibleKey(key string) error {
	if len(key) < 20 {
		return fmt.Errorf("is not an API key: %d characters is too short (IBM Cloud API keys have 44)", len(key))
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("is not an API key: it holds %q, which no API key does (want only the key, not apikey=... or a quoted value)", c)
		}
	}
	return nil
}

// runKeyCommand runs auth.api_key_command (no shell) and returns its trimmed standard output;
// a failure never shows what the command wrote.
func runKeyCommand(argv []string) (string, error) {
	out, err := tokensource.RunCommand(context.Background(), argv, keyCommandTimeout)
	if err != nil {
		return "", fmt.Errorf("auth.api_key_command: %w", err)
	}
	key := strings.TrimSpace(string(out))
	if err := plausibleKey(key); err != nil {
		return "", fmt.Errorf("auth.api_key_command: the output of %s %w", filepath.Base(argv[0]), err)
	}
	return key, nil
}
