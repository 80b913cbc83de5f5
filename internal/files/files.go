// Package files reads the files a configuration names and opens log.file, refusing what would
// hang or exhaust the process: a FIFO, device or directory, a file over its cap and, for
// log.file, a symbolic link. Errors name the key, the path and what was there; never the
// content. It imports nothing of the project.
package files

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MaxConfig is the cap of the configuration file and of CA and TLS files.
const MaxConfig = 1 << 20

// Read reads the regular file at path (config key key) if it holds at most limit bytes.
func Read(key, path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read %s: %w", key, Shown(path), errors.Unwrap(err))
	}
	if err := regular(key, path, st); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read %s: %w", key, path, errors.Unwrap(err))
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s changed while it was opened; retry", key, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read %s: %w", key, path, errors.Unwrap(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %s is larger than %s, the cap for this file; point %s at the right file", key, path, size(limit), key)
	}
	return data, nil
}

// OpenAppend opens path (log.file) for appending, creating it 0600. It refuses anything but a
// regular file, a symbolic link too (one planted in a shared folder would redirect the log).
func OpenAppend(key, path string) (*os.File, error) {
	if st, err := os.Lstat(path); err == nil {
		if err := regular(key, path, st); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot open %s: %w", key, path, errors.Unwrap(err))
	}
	st, err1 := f.Stat()
	lst, err2 := os.Lstat(path)
	if err1 != nil || err2 != nil || !st.Mode().IsRegular() || !os.SameFile(st, lst) {
		f.Close()
		return nil, fmt.Errorf("%s: %s changed while it was opened (a symbolic link or not a regular file); retry", key, path)
	}
	return f, nil
}

var kinds = []struct {
	mode fs.FileMode
	what string
}{{fs.ModeSymlink, "a symbolic link"}, {fs.ModeDir, "a directory"}, {fs.ModeNamedPipe, "a FIFO (named pipe)"},
	{fs.ModeSocket, "a socket"}, {fs.ModeDevice, "a device"}, {fs.ModeType, "a special file"}}

// regular returns an error naming what st is unless it is a regular file.
func regular(key, path string, st fs.FileInfo) error {
	for _, k := range kinds {
		if st.Mode()&k.mode != 0 {
			return fmt.Errorf("%s: %s is %s, not a regular file; point %s at the file itself", key, path, k.what, key)
		}
	}
	return nil
}

// Shown is path for an error, unless its last element looks like a secret (32+ characters
// of a key): an API key or token set where a path belongs is not echoed into a log.
func Shown(path string) string {
	const secret = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
	if base := filepath.Base(path); len(base) < 32 || strings.Trim(base, secret) != "" {
		return path
	}
	return filepath.Join(filepath.Dir(path), "<a name that looks like a key or token, not shown>")
}

func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
