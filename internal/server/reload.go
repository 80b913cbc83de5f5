package server

import (
	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/sdnotify"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// Reload re-reads the API key file, the CA file and the inbound TLS files (what SIGHUP asks
// for; the file watcher does the same when one of them changes). A broken new file is logged
// and the old one stays in use. Reloads never overlap: one from the file watcher waits for
// one from a signal. After shutdown has begun, Reload does
// nothing.
func (a *Server) Reload() { a.reload("reload requested") }

// reload is Reload, logging why.
func (a *Server) reload(why string) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.stopping.Load() || a.closed.Load() {
		return
	}
	_ = sdnotify.Reloading()
	defer func() { _ = sdnotify.Notify("READY=1") }()
	a.log.Info().Str("reason", why).Msg("reloading the API key, CA and TLS files")
	a.reloadKey() // trusted_profile has none: its CR token file is read at every exchange
	if pool, err := upstream.ReadCA(a.cfg.Upstream.CAFile); err != nil {
		a.log.Error().Err(err).Msg("keeping the old CA")
	} else if err := a.upstream.Reload(pool, a.cfg.Upstream.Pins); err != nil {
		a.log.Error().Err(err).Msg("keeping the old CA")
	}
	if a.iam != nil {
		if t, err := IAMTransport(a.cfg); err != nil {
			a.log.Error().Err(err).Msg("keeping the old IAM CA")
		} else {
			a.iam.swap(t)
		}
	}
	if err := a.guard.Reload(); err != nil {
		a.log.Error().Err(err).Msg("keeping the old inbound TLS files")
	}
}

// SetClients applies inbound.clients and admin.clients of cfg, the configuration read again
// on SIGHUP, so that a removed token is refused from the next request on; other changes take a
// restart. Invalid client lists are refused whole and the old ones kept.
func (a *Server) SetClients(cfg *config.Config) error {
	if err := a.guard.SetClients(cfg.Inbound.Clients); err != nil {
		return err
	}
	a.admins.Set(cfg.Admin.Clients)
	return nil
}

// reloadKey re-reads the API key, if there is one, and drops the token of an old key.
func (a *Server) reloadKey() {
	if a.keys == nil {
		return
	}
	if changed, err := a.keys.reload(); err != nil {
		a.log.Error().Err(err).Msg("keeping the old API key")
	} else if changed && !a.closed.Load() {
		a.keyChanged()
	}
}

// keyChanged is called when the API key changed: the current token belongs to the old key.
func (a *Server) keyChanged() {
	a.log.Info().Str("api_key_source", a.keys.source()).Msg("the API key changed; fetching a new token")
	a.tokens.Reset()
}
