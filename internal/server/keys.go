package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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

// IBMCloudAPIKeyEnv is the IBM Cloud CLI's variable for the API key, used when neither
// auth.api_key_file, auth.api_key_command nor DBAAS_API_KEY gives one.
const IBMCloudAPIKeyEnv = "IBMCLOUD_API_KEY"

// keyCommandTimeout bounds auth.api_key_command.
var keyCommandTimeout = 10 * time.Second

// keyStore holds the current API key and where it came from: auth.api_key_file, else
// auth.api_key_command, else DBAAS_API_KEY, else IBMCLOUD_API_KEY. The file is re-read and the
// command re-run on SIGHUP; the file also when its modification time changes (Kubernetes
// rotates mounted secrets without a signal).
type keyStore struct {
	path    string   // auth.api_key_file
	command []string // auth.api_key_command
	env     string   // the variable the key came from, when neither is set

	mu       sync.Mutex
	key      string
	mtime    time.Time
	size     int64
	warnings []string
}

// newKeyStore loads the key from the first source that auth and the environment give.
func newKeyStore(auth config.AuthConfig, getenv func(string) string) (*keyStore, error) {
	ks := &keyStore{path: auth.APIKeyFile, command: auth.APIKeyCommand}
	if ks.path == "" && len(ks.command) == 0 {
		for _, name := range []string{APIKeyEnv, IBMCloudAPIKeyEnv} {
			if v := strings.TrimSpace(getenv(name)); v != "" {
				if err := plausibleKey(v); err != nil {
					return nil, fmt.Errorf("auth: the environment variable %s %w", name, err)
				}
				ks.env, ks.key = name, v
				return ks, nil
			}
		}
		return nil, errors.New("auth: no API key: set auth.api_key_file to the key file " +
			"(the JSON the IBM Cloud console downloads, or the bare key), auth.api_key_command to a " +
			"command that prints it, or the environment variable " + APIKeyEnv + " (or " + IBMCloudAPIKeyEnv + ")")
	}
	if _, err := ks.reload(); err != nil {
		return nil, err
	}
	return ks, nil
}

// APIKeySource finds the API key as the server would and says where it comes from, with the
// warnings about it (a key file readable by others), for `doctor`; never the key.
func APIKeySource(auth config.AuthConfig, getenv func(string) string) (source string, warnings []string, err error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	ks, err := newKeyStore(auth, getenv)
	if err != nil {
		return "", nil, err
	}
	return ks.source(), ks.warnings, nil
}

// KeyWarnings are the risks of the API key's source worth a log line at start.
func (a *Server) KeyWarnings() []string {
	if a.keys == nil { // trusted_profile: no API key
		return nil
	}
	a.keys.mu.Lock()
	defer a.keys.mu.Unlock()
	return append([]string(nil), a.keys.warnings...)
}

// source describes where the key comes from, for a log line; never the key.
func (ks *keyStore) source() string {
	switch {
	case ks.path != "":
		return "file " + files.Shown(ks.path)
	case len(ks.command) > 0:
		return "command " + filepath.Base(ks.command[0]) + " (auth.api_key_command)"
	}
	return "environment variable " + ks.env
}

// Key returns the current key, for tokensource.ExchangeOptions.Key.
func (ks *keyStore) Key() (string, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.key, nil
}

// reload re-reads the key file or re-runs the key command. It reports whether the key
// changed. On an error the old key stays.
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

// readFile reads auth.api_key_file, noting a mode that lets others read it.
func (ks *keyStore) readFile() (string, error) {
	st, err := os.Stat(ks.path)
	if err != nil {
		return "", errors.New("auth.api_key_file: cannot read " + files.Shown(ks.path) + ": " + errors.Unwrap(err).Error())
	}
	key, err := tokensource.ReadKeyFile(ks.path)
	ks.mu.Lock()
	ks.mtime, ks.size = st.ModTime(), st.Size() // a broken file is reported once, not every poll
	ks.warnings = nil
	if w := modeWarning(ks.path, st.Mode()); w != "" {
		ks.warnings = append(ks.warnings, w)
	}
	ks.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("auth.api_key_file: %w", err)
	}
	if err := plausibleKey(key); err != nil {
		return "", fmt.Errorf("auth.api_key_file: the content of %s %w", ks.path, err)
	}
	return key, nil
}

// modeWarning warns of a key file that group or others may read. Windows has no such mode
// bits (its ACLs are not mapped to them), so there is nothing to check there.
func modeWarning(path string, mode os.FileMode) string {
	if runtime.GOOS == "windows" || mode.Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("auth.api_key_file: %s is readable by group or others (mode %04o); make it private: chmod 600 %s", path, mode.Perm(), path)
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

// runKeyCommand runs auth.api_key_command (no shell) and returns its standard output,
// trimmed. On a failure the error shows the command's stderr, never its stdout.
func runKeyCommand(argv []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), keyCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout bytes.Buffer
	stderr := &capped{max: 2 << 10}
	cmd.Stdout, cmd.Stderr = &limitedWriter{w: &stdout, n: 64 << 10}, stderr
	cmd.WaitDelay = time.Second // a grandchild holding the pipes open cannot hang us
	name := filepath.Base(argv[0])
	err := cmd.Run()
	detail := strings.TrimSpace(stderr.String())
	if detail != "" {
		detail = "; its stderr: " + detail
	}
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("auth.api_key_command: %s did not finish within %s%s", name, keyCommandTimeout, detail)
	case err != nil:
		return "", fmt.Errorf("auth.api_key_command: %s failed: %w%s", name, err, detail)
	}
	key := strings.TrimSpace(stdout.String())
	if key == "" {
		return "", fmt.Errorf("auth.api_key_command: %s printed nothing on stdout%s", name, detail)
	}
	if err := plausibleKey(key); err != nil {
		return "", fmt.Errorf("auth.api_key_command: the output of %s %w", name, err)
	}
	return key, nil
}

// capped keeps the first max bytes written to it.
type capped struct {
	max int
	buf bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string { return c.buf.String() }

// limitedWriter fails once more than n bytes are written: a key is never that long.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errors.New("the output is longer than 64 KiB")
	}
	l.n -= len(p)
	return l.w.Write(p)
}
