package server

import (
	"github.com/dbaas-proxy/dbaas-proxy/internal/sdnotify"
)

// Reload re-reads the API key file, the CA file and the inbound TLS files (what SIGHUP asks
// for). A broken new file is logged and the old one stays in use. Reloads never overlap: one
// from the key poller waits for one from a signal. After shutdown has begun, Reload does
// nothing.
func (a *Server) Reload() {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.stopping.Load() {
		return
	}
	_ = sdnotify.Reloading()
	defer func() { _ = sdnotify.Notify("READY=1") }()
	a.log.Info().Msg("reloading the API key, CA and TLS files")
	if changed, err := a.keys.reload(); err != nil {
		a.log.Error().Err(err).Msg("keeping the old API key")
	} else if changed {
		a.keyChanged()
	}
	if pool, err := ReadCA(a.cfg.Upstream.CAFile); err != nil {
		a.log.Error().Err(err).Msg("keeping the old CA")
	} else {
		a.upstream.swap(UpstreamTransport(a.cfg, pool))
	}
	if err := a.guard.Reload(); err != nil {
		a.log.Error().Err(err).Msg("keeping the old inbound TLS files")
	}
}

// keyFileChanged is the key poller's callback: the key file looks different. It re-reads it
// under the reload lock.
func (a *Server) keyFileChanged() {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.stopping.Load() {
		return
	}
	changed, err := a.keys.reload()
	switch {
	case err != nil:
		a.log.Error().Err(err).Msg("the API key file changed but cannot be used; keeping the old key")
	case changed:
		a.keyChanged()
	}
}

// keyChanged is called when the API key changed: the current token belongs to the old key.
func (a *Server) keyChanged() {
	a.log.Info().Str("api_key_source", a.keys.source()).Msg("the API key changed; fetching a new token")
	a.tokens.Reset()
}
