// Package server is the running dbaas-proxy: it wires the token source, the upstream
// transport, the proxy handler with its inbound guard and the admin handler from a validated
// config.Config, listens, reloads (the API key, CA and TLS files), and shuts down gracefully.
// Tests drive it in-process: New, Listen, Serve (or Run), Reload, and cancel the context to
// stop.
//
// It owns the process's runtime but not the process: it reads no flags, installs no signal
// handlers and never exits; cmd/dbaas-proxy does that. It may import every library package of
// the project, never cmd/.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
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
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// Options are what the server takes from its caller besides the config.
type Options struct {
	// Logger receives every log line. The zero value logs nothing.
	Logger zerolog.Logger
	// Getenv reads the environment (DBAAS_API_KEY). Nil means no environment.
	Getenv func(string) string
	// Version is the program's version, for the status page, the build_info metric and the
	// User-Agent sent upstream. "" means "dev".
	Version string
	// FilePollInterval is how often the API key, CA and inbound TLS files are checked for a
	// change. Zero means 10 s.
	FilePollInterval time.Duration
}

// Server is one running dbaas-proxy: the token source, the upstream transport, the proxy
// handler with its inbound guard, and the admin handler. Build it with New; serve it with Run,
// or Listen and then Serve. A Server serves once.
type Server struct {
	cfg      *config.Config
	opts     Options
	log      zerolog.Logger
	keys     *keyStore // nil for auth.source trusted_profile, which uses no API key
	upstream *upstream.Transport
	iam      *swapTransport // nil unless auth.source is iam or trusted_profile
	tokens   *tokensource.Cached
	guard    *inbound.Guard
	admins   *inbound.Bearer // admin.clients, set again on SIGHUP
	proxy    http.Handler
	admin    http.Handler
	metrics  *admin.Metrics
	health   *admin.Health
	quit     chan struct{} // closed by POST /quitquitquit
	quitOnce sync.Once
	stopping atomic.Bool
	closed   atomic.Bool // the token source is closed: reloads do nothing

	reloadMu sync.Mutex // one reload at a time: SIGHUP and the file watcher
	watchers sync.WaitGroup
	ls       *listeners // set by Listen
}

// New builds the server from a validated config. It reads the CA file, the API key and the
// inbound TLS files, and fails with an error naming the file if one is missing or broken. It
// starts nothing: Listen and Serve do.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.FilePollInterval <= 0 {
		opts.FilePollInterval = 10 * time.Second
	}
	logger := opts.Logger
	a := &Server{cfg: cfg, opts: opts, log: logger, admins: inbound.NewBearer(cfg.Admin.Clients), quit: make(chan struct{})}
	pool, err := upstream.ReadCA(cfg.Upstream.CAFile)
	if err != nil {
		return nil, err
	}
	if a.keys, err = newCredentials(cfg, opts.Getenv); err != nil {
		return nil, err
	}
	base, err := url.Parse(cfg.UpstreamURL())
	if err != nil {
		return nil, fmt.Errorf("upstream.url: %w", err)
	}
	if a.upstream, err = UpstreamTransport(cfg, pool); err != nil {
		return nil, err
	}
	if u := cfg.UpstreamProxy(); u != nil {
		logger.Info().Str("proxy_url", upstream.Redact(u)).Msg("the upstream and IAM are reached through a proxy")
	}
	if cfg.Auth.UsesIAM() {
		t, err := IAMTransport(cfg)
		if err != nil {
			return nil, err
		}
		a.iam = newSwapTransport(t)
	}
	reg := a.newMetrics()
	if err := a.buildTokens(); err != nil {
		return nil, err
	}
	a.guard, err = inbound.New(cfg.Inbound, inbound.Options{
		Listen: cfg.Listen, Logger: logger, OnReject: a.metrics.Reject,
	})
	if err != nil {
		return nil, err
	}
	recent := admin.NewRecent(50)
	ph, err := a.buildProxy(base, recent)
	if err != nil {
		return nil, err
	}
	a.proxy = inFlight(ph, a.metrics)
	a.admin = a.newAdmin(base, reg, recent)
	return a, nil
}

// newMetrics builds the registry that /metrics serves, with the proxy's collectors (a.metrics)
// and the upstream's health (a.health).
func (a *Server) newMetrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister( // goroutines, memory, GC, open fds: what an operator watches in a soak
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	a.metrics = admin.NewMetrics(reg, a.opts.Version, a.cfg.Auth.Source, func() tokensource.Status { return a.tokens.Status() }, time.Now)
	a.health = admin.NewHealth(reg, time.Now, defaultRoute)
	return reg
}

// newAdmin builds the admin listener's handler.
func (a *Server) newAdmin(base *url.URL, reg *prometheus.Registry, recent *admin.Recent) http.Handler {
	cfg := a.cfg
	return admin.NewHandler(admin.Options{
		Logger: a.log, Version: a.opts.Version, Upstream: base.String(), TokenSource: cfg.Auth.Source,
		Token: a.tokens.Status, Ready: a.ready, TryRefresh: a.tryRefresh,
		Listen: cfg.Admin.Listen, Clients: a.admins, AllowedHosts: cfg.Admin.AllowedHosts,
		Gatherer: reg, Recent: recent,
		Health: a.health, ProxyListen: cfg.Listen, Credential: a.credentialSource(),
		Quit: func() { a.quitOnce.Do(func() { close(a.quit) }) },
	})
}

// buildProxy builds the proxy handler: the token-attaching transport over the upstream pool,
// the inbound guard, and the observers of each request (metrics, the status page's list and
// counts).
func (a *Server) buildProxy(base *url.URL, recent *admin.Recent) (*proxy.Handler, error) {
	cfg := a.cfg
	return proxy.New(proxy.Options{
		Upstream: base,
		Transport: &tokensource.Transport{
			Cache:          a.tokens,
			Base:           proxy.TimeUpstream(a.upstream), // upstream_duration: the round trip only
			Header:         cfg.Auth.HeaderName(),
			RefreshOn:      cfg.Auth.RefreshOn,
			MaxReplayBytes: replayLimit(cfg.Auth.MaxReplayBytes),
			OnReplay: func(r *http.Request) {
				proxy.MarkReplayed(r)
				a.metrics.Replay()
			},
		},
		CAFile:           cfg.Upstream.CAFile,
		Timeout:          cfg.Upstream.Timeout,
		WriteIdleTimeout: cfg.Inbound.Limits().WriteIdleTimeout,
		Logger:           a.log,
		Guard:            a.guard.Wrap,
		ClientName:       inbound.ClientName,
		Observe: func(rec *proxy.Record) {
			a.metrics.Observe(rec)
			a.health.Observe(defaultRoute, rec)
			recent.Add(rec)
		},
	})
}

// buildTokens builds the token source of auth.source (the one NewTokenSource builds) and the
// caching decorator in front of it.
func (a *Server) buildTokens() error {
	var iam http.RoundTripper
	if a.iam != nil {
		iam = a.iam
	}
	ex, err := newSource(a.cfg, a.upstream, iam, a.keys, a.opts)
	if err != nil {
		return err
	}
	a.tokens = tokensource.NewCached(ex, tokensource.CachedOptions{
		Logger:             a.log,
		MinRefreshInterval: a.cfg.Auth.MinRefreshInterval,
		OnSuppressed:       a.metrics.TokenSuppressed,
		OnExchange: func(_ tokensource.Token, err error) {
			a.metrics.TokenExchange(err)
		},
	})
	return nil
}

// replayLimit maps auth.max_replay_bytes to tokensource.Transport.MaxReplayBytes, where 0
// means the default and a negative value disables replaying bodies.
func replayLimit(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// defaultRoute names the one route of today's configuration, in the upstream's health.
const defaultRoute = "default"

// probe is the light check of the upstream while no request flows: a TLS handshake through
// upstream.proxy_url (if set), verified against upstream.ca_file.
func (a *Server) probe(ctx context.Context) error {
	u, err := url.Parse(a.cfg.UpstreamURL())
	if err != nil {
		return err
	}
	pool, err := upstream.ReadCA(a.cfg.Upstream.CAFile)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	raw, err := upstream.Dialer(a.cfg.UpstreamProxy())(ctx, "tcp", host)
	if err != nil {
		return err
	}
	defer raw.Close()
	return tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: cmp.Or(a.cfg.Upstream.ServerName, u.Hostname()),
		MinVersion: tls.VersionTLS12}).HandshakeContext(ctx)
}

// Warnings are the configuration's risks worth a log line at start (e.g. an unauthenticated
// remote listener that the config explicitly allows).
func (a *Server) Warnings() []string {
	return a.guard.Warnings()
}

// tryRefresh is POST /token/refresh: a refresh within the refresh budget.
func (a *Server) tryRefresh() (time.Duration, error) {
	err := a.tokens.Refresh()
	var rl *tokensource.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, nil
	}
	return 0, err
}

// APIKeySource says where the API key comes from, for a log line; never the key. With
// auth.source trusted_profile it says that no API key is used.
func (a *Server) APIKeySource() string { return a.credentialSource() }

// ready is the readiness check: a usable token and not shutting down.
func (a *Server) ready() (bool, string) {
	if a.stopping.Load() {
		return false, "shutting down"
	}
	if a.upstream.Saturated() {
		return false, "the upstream connection pool is exhausted: every connection of upstream.max_conns was busy for upstream.timeout"
	}
	st := a.tokens.Status()
	ok, reason := st.Ready(time.Now())
	if kind := cause.Of(st.LastError); !ok && kind != "" {
		reason += " (" + cause.Fix[kind] + ")" // the words the clients' 502 and 503 bodies use
	}
	return ok, reason
}

// inFlight counts the requests being served.
func inFlight(next http.Handler, m *admin.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.RequestStarted()
		defer m.RequestDone()
		next.ServeHTTP(w, r)
	})
}
