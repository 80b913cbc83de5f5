package server

import (
	"fmt"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/sdnotify"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// Reload re-reads every API key (file or command), CA file and inbound TLS file, as SIGHUP
// and the file watcher ask; a broken new file is logged and the old one kept. Reloads never
// overlap, and after shutdown has begun Reload does nothing.
func (a *Server) Reload() { a.reload("reload requested") }

// reload is Reload, logging why.
func (a *Server) reload(why string) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.stopping.Load() {
		return
	}
	_ = sdnotify.Reloading()
	defer func() { _ = sdnotify.Notify("READY=1") }()
	a.log.Info().Str("reason", why).Msg("reloading the API key, CA and TLS files")
	for _, id := range a.identities {
		id.reload(a)
	}
	for _, r := range a.routes {
		log := a.log.With().Str("route", r.cfg.RouteName).Logger()
		if pool, err := upstream.ReadCA(r.cfg.Upstream.CAFile); err != nil {
			log.Error().Err(err).Msg("keeping the old CA")
		} else if err := r.upstream.Reload(pool, r.cfg.Upstream.Pins); err != nil {
			log.Error().Err(err).Msg("keeping the old CA")
		}
		if err := r.guard.Reload(); err != nil {
			log.Error().Err(err).Msg("keeping the old inbound TLS files")
		}
	}
}

// reload re-reads the identity's API key (resetting its token on a change) and token CA.
func (id *identity) reload(a *Server) {
	log := a.log.With().Str("identity", id.cfg.IdentityName).Logger()
	if id.keys != nil { // trusted_profile has none: its CR token file is read at every exchange
		if changed, err := id.keys.reload(); err != nil {
			log.Error().Err(err).Msg("keeping the old API key")
		} else if changed && !a.stopping.Load() { // the token sources may be closed
			log.Info().Str("api_key_source", id.keys.source()).Msg("the API key changed; fetching a new token")
			id.tokens.Reset()
		}
	}
	if pool, err := tokenCA(id.cfg); err != nil {
		log.Error().Err(err).Msg("keeping the old CA of the token endpoint")
	} else if err := id.tr.Reload(pool, id.pins); err != nil {
		log.Error().Err(err).Msg("keeping the old CA of the token endpoint")
	}
}

// SetClients applies cfg's inbound.clients and admin.clients (SIGHUP), so a removed token is
// refused at once; other changes take a restart. Invalid lists are refused whole, old kept.
func (a *Server) SetClients(cfg *config.Config) error {
	for _, cl := range cfg.Inbound.Clients { // every route has every client identity
		if cl.Identity != "" && a.routes[0].clients[cl.Identity] == nil {
			return fmt.Errorf("inbound.clients: the identity %s of client %s is new: a new identity takes a restart", cl.Identity, cl.Name)
		}
	}
	for _, r := range a.routes {
		if err := r.guard.SetClients(cfg.Inbound.Clients); err != nil {
			return err
		}
	}
	a.admins.Set(cfg.Admin.Clients)
	return nil
}
