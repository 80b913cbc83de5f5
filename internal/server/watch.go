package server

import (
	"context"
	"os"
	"time"
)

// fileWatcher polls files' mtime and size (following symlinks, as a ConfigMap's ..data link):
// Windows has no SIGHUP, a distroless pod cannot be sent one, and Kubernetes swaps mounted
// Secrets in place. Polling works on every OS and file system, network mounts included.
type fileWatcher map[string]fileStamp

// fileStamp is what the watcher compares; a missing file has the zero stamp.
type fileStamp struct {
	mtime time.Time
	size  int64
}

func stamp(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{st.ModTime(), st.Size()}
}

// newFileWatcher watches paths (but empty ones) from their current state.
func newFileWatcher(paths ...string) fileWatcher {
	w := fileWatcher{}
	for _, p := range paths {
		if p != "" {
			w[p] = stamp(p)
		}
	}
	return w
}

// changed reports whether any file looks different from the last look. A file that has gone
// missing does not count: it is being replaced, and the next look will see the new one.
func (w fileWatcher) changed() bool {
	changed := false
	for p, old := range w {
		if now := stamp(p); now != (fileStamp{}) {
			changed = changed || !now.mtime.Equal(old.mtime) || now.size != old.size
			w[p] = now
		}
	}
	return changed
}

// run polls every interval until ctx ends, calling onChange after a look that saw a change.
func (w fileWatcher) run(ctx context.Context, interval time.Duration, onChange func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for len(w) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.changed() {
			onChange()
		}
	}
}

// watchedFiles are the API key, CA and inbound TLS files. The CR token file is not watched:
// it is read at every exchange.
func (a *Server) watchedFiles() fileWatcher {
	t := a.cfg.Inbound.TLS
	files := []string{t.CertFile, t.KeyFile, t.ClientCAFile}
	for _, r := range a.routes {
		files = append(files, r.cfg.Upstream.CAFile)
	}
	for _, id := range a.identities {
		files = append(files, id.cfg.Auth.APIKeyFile, id.cfg.Auth.IAMCAFile)
	}
	return newFileWatcher(files...)
}
