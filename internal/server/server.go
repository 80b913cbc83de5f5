// Package server is the running dbaas-proxy. Its one shape is the route: a listener, an
// upstream transport and a token source (an identity's cache, shared by the routes and gateway
// clients with the same identity and token endpoint). New builds them from a validated
// config.Config; Listen and Serve run them; Reload re-reads every file. Token traffic has
// transports and a timeout (auth.timeout) of its own, apart from the proxied requests' pool.
// It reads no flags, installs no signal handlers and never exits (cmd/dbaas-proxy does); it
// may import every library package of the project, never cmd/.
package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/cause"
	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// Options are what the server takes from its caller besides the config.
type Options struct {
	// Logger receives every log line. The zero value logs nothing.
	Logger zerolog.Logger
	// Getenv reads the environment (DBAAS_API_KEY). Nil means no environment.
	Getenv func(string) string
	// Version is the program's version (status page, build_info, User-Agent); "" means "dev".
	Version string
	// FilePollInterval is how often the watched files are checked for a change; zero means 10 s.
	FilePollInterval time.Duration
}

// Server is one running dbaas-proxy; build it with New, serve it once with Listen and Serve.
type Server struct {
	cfg        *config.Config
	opts       Options
	log        zerolog.Logger
	routes     []*route
	identities []*identity // one per identity name and token endpoint, in order of first use
	admin      http.Handler
	metrics    *admin.Metrics
	health     *admin.Health // the upstream's state per route
	quit       chan struct{} // closed by POST /quitquitquit
	quitOnce   sync.Once
	stopping   atomic.Bool // Serve is ending: not ready, reloads do nothing

	admins *inbound.Bearer // admin.clients, set again on SIGHUP

	reloadMu sync.Mutex // one reload at a time: SIGHUP and the file watcher
	watchers sync.WaitGroup
	ls       *listeners // set by Listen
}

// New builds the server from a validated config, reading its files; it starts nothing.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.FilePollInterval <= 0 {
		opts.FilePollInterval = 10 * time.Second
	}
	a := &Server{cfg: cfg, opts: opts, log: opts.Logger, admins: inbound.NewBearer(cfg.Admin.Clients), quit: make(chan struct{})}
	reg := prometheus.NewRegistry()
	reg.MustRegister( // goroutines, memory, GC, open fds: what an operator watches in a soak
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	a.metrics = admin.NewMetrics(reg, opts.Version, time.Now)
	recent, names := admin.NewRecent(50), []string{}
	for _, rc := range cfg.RouteConfigs() {
		r, err := a.newRoute(rc, recent)
		if err != nil {
			if len(cfg.Routes) > 0 {
				err = fmt.Errorf("route %s: %w", rc.RouteName, err)
			}
			return nil, err
		}
		a.routes, names = append(a.routes, r), append(names, rc.RouteName)
	}
	a.health = admin.NewHealth(reg, time.Now, names...) // the routes observe it once they serve
	first := a.routes[0]
	a.admin = admin.NewHandler(admin.Options{
		Logger: a.log, Version: opts.Version, Upstream: first.base.String(), TokenSource: first.cfg.Auth.Source,
		Token: first.ident.tokens.Status, Routes: a.routeStates, Ready: a.ready, TryRefresh: a.tryRefresh,
		Listen: cfg.Admin.Listen, Clients: a.admins, AllowedHosts: cfg.Admin.AllowedHosts,
		Gatherer: reg, Recent: recent,
		Health: a.health, ProxyListen: first.cfg.Listen, Credential: first.ident.credentialSource(),
		Quit: func() { a.quitOnce.Do(func() { close(a.quit) }) },
	})
	return a, nil
}

// routeStates are the routes, then the identities no route uses (gateway clients').
func (a *Server) routeStates() []admin.RouteState {
	var out []admin.RouteState
	used := map[*identity]bool{}
	for _, r := range a.routes {
		used[r.ident] = true
		out = append(out, admin.RouteState{Name: r.cfg.RouteName, Listen: r.cfg.Listen, Upstream: r.base.String(),
			API: r.cfg.Upstream.API, Identity: r.cfg.IdentityName, Source: r.cfg.Auth.Source, Token: r.ident.tokens.Status()})
	}
	for _, id := range a.identities {
		if !used[id] {
			out = append(out, admin.RouteState{Identity: id.cfg.IdentityName, Source: id.cfg.Auth.Source, Token: id.tokens.Status()})
		}
	}
	return out
}

// Warnings are the configuration's risks worth a log line at start.
func (a *Server) Warnings() []string {
	var w []string
	for _, r := range a.routes {
		w = append(w, r.guard.Warnings()...)
	}
	return w
}

// tryRefresh is POST /token/refresh: a refresh of every identity within its refresh budget.
func (a *Server) tryRefresh() (time.Duration, error) {
	var wait time.Duration
	var errs []error
	for _, id := range a.identities {
		err := id.tokens.Refresh()
		var rl *tokensource.RateLimitedError
		if errors.As(err, &rl) {
			wait = max(wait, rl.RetryAfter)
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	return wait, errors.Join(errs...)
}

// ready is the readiness check of every route, or of the one named route when not "".
func (a *Server) ready(route string) (bool, string) {
	if a.stopping.Load() {
		return false, "shutting down"
	}
	found, warnings := false, []string{}
	for _, r := range a.routes {
		if route != "" && r.cfg.RouteName != route {
			continue
		}
		found = true
		st := r.ident.tokens.Status()
		ok, why := st.Ready(time.Now())
		if kind := cause.Of(st.LastError); !ok && kind != "" {
			why += " (" + cause.Fix[kind] + ")" // the words the clients' 502 and 503 bodies use
		}
		if r.upstream.Saturated() {
			ok, why = false, "the upstream connection pool is exhausted: every connection of upstream.max_conns was busy for upstream.timeout"
		}
		if why != "" && (len(a.routes) > 1 || route != "") {
			why = "route " + r.cfg.RouteName + ": " + why
		}
		if !ok {
			return false, why
		}
		if why != "" {
			warnings = append(warnings, why)
		}
	}
	if !found {
		return false, fmt.Sprintf("no route is named %q", route)
	}
	return true, strings.Join(warnings, "; ")
}

// inFlight counts the requests being served.
func inFlight(next http.Handler, m *admin.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.RequestStarted()
		defer m.RequestDone()
		next.ServeHTTP(w, r)
	})
}
