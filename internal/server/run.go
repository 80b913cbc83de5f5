package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/sdnotify"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// ErrShutdownTimeout is Serve's error when requests in flight at shutdown_timeout were cut off.
var ErrShutdownTimeout = errors.New("shutdown: requests were still in flight at shutdown_timeout")

// listeners are Listen's servers and listeners: the routes' in order, then the admin's.
type listeners struct {
	servers []*http.Server
	ls      []net.Listener
	errs    chan error
	wg      sync.WaitGroup
}

// Listen opens every route's and the admin listener's address; on error it opens nothing.
func (a *Server) Listen() error {
	if a.ls != nil {
		return errors.New("server: Listen called twice")
	}
	s := &listeners{errs: make(chan error, len(a.routes)+1)}
	errLog := proxy.ErrorLog(a.log, zerolog.DebugLevel) // TLS handshake noise of port scanners
	for _, r := range a.routes {
		srv := &http.Server{Handler: r.handler, ErrorLog: errLog}
		r.guard.ConfigureServer(srv) // header limits and timeouts, inbound TLS
		if err := s.open(srv, r.cfg.Listen); err != nil {
			if len(a.cfg.Routes) > 0 {
				return fmt.Errorf("route %s: listen: %w", r.cfg.RouteName, err)
			}
			return fmt.Errorf("listen: %w", err)
		}
	}
	if a.cfg.Admin.Listen != "" {
		srv := &http.Server{Handler: a.admin, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10,
			IdleTimeout: 60 * time.Second, ErrorLog: errLog}
		if err := s.open(srv, a.cfg.Admin.Listen); err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
	}
	a.ls = s
	return nil
}

// open listens on addr for srv; if it cannot, it closes the listeners opened before.
func (s *listeners) open(srv *http.Server, addr string) error {
	l, err := listen(addr)
	if err != nil {
		for _, l := range s.ls {
			l.Close()
		}
		return err
	}
	s.servers, s.ls = append(s.servers, srv), append(s.ls, l)
	return nil
}

// Serve serves until ctx ends, then shuts down gracefully (see stop). It returns
// ErrShutdownTimeout if requests were cut off, or the error of a server that failed.
func (a *Server) Serve(ctx context.Context) error {
	s := a.ls
	if s == nil {
		return errors.New("server: Serve called before Listen")
	}
	for i, srv := range s.servers {
		s.serve(srv, s.ls[i])
	}
	for i, r := range a.routes {
		a.log.Info().Str("route", r.cfg.RouteName).Str("listen", s.ls[i].Addr().String()).Bool("tls", a.cfg.Inbound.TLS.CertFile != "").
			Str("upstream", r.base.String()).Str("api", r.cfg.Upstream.API).Str("identity", r.cfg.IdentityName).
			Str("token_source", r.cfg.Auth.Source).Str("credential", r.ident.credentialSource()).Msg("dbaas-proxy serving")
	}
	bg, stopBG := context.WithCancel(context.Background())
	a.startBackground(bg)
	if err := sdnotify.Notify("READY=1"); err != nil {
		a.log.Warn().Err(err).Msg("cannot notify systemd")
	}
	defer a.cleanup(stopBG)
	select {
	case <-ctx.Done():
	case <-a.quit:
		a.log.Info().Msg("shutting down: POST /quitquitquit; finishing requests in flight")
	case err := <-s.errs:
		a.stopping.Store(true)
		s.shutdown(time.Second, len(a.routes))
		return fmt.Errorf("serve: %w", err)
	}
	return a.stop(s)
}

// cleanup stops the file watcher, waited for (it could start an exchange), then the token
// sources and the pools. A reload in progress (a slow api_key_command) is not waited for.
func (a *Server) cleanup(stopBG func()) {
	stopBG()
	a.watchers.Wait()
	for _, id := range a.identities {
		id.tokens.Close()
		id.tr.CloseIdleConnections()
	}
	for _, r := range a.routes {
		r.upstream.CloseIdleConnections()
	}
}

// startBackground starts the token refreshes, the file watcher and the upstream probes.
func (a *Server) startBackground(bg context.Context) {
	for _, id := range a.identities {
		id.tokens.Start()
	}
	files := a.watchedFiles()
	a.watchers.Go(func() { files.run(bg, a.opts.FilePollInterval, func() { a.reload("a watched file changed") }) })
	for _, r := range a.routes {
		a.watchers.Go(func() { a.health.Run(bg, r.cfg.RouteName, admin.ProbeInterval, r.probe) })
	}
}

// serve starts srv on l, with TLS if srv has a TLSConfig (inbound TLS).
func (s *listeners) serve(srv *http.Server, l net.Listener) {
	s.wg.Add(1)
	tls := srv.TLSConfig != nil // before ServeTLS changes it
	go func() {
		defer s.wg.Done()
		var err error
		if tls {
			err = srv.ServeTLS(l, "", "")
		} else {
			err = srv.Serve(l)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			s.errs <- err
		}
	}()
}

// shutdown stops the first routes servers (the routes') at once, then the admin's, so probes
// see 503 rather than a refused connection while routes drain; requests get timeout to
// finish. It reports whether everything finished in time.
func (s *listeners) shutdown(timeout time.Duration, routes int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var cut atomic.Bool
	stop := func(srv *http.Server) {
		if err := srv.Shutdown(ctx); err != nil {
			cut.Store(true)
			srv.Close()
		}
	}
	var wg sync.WaitGroup
	for _, srv := range s.servers[:routes] {
		wg.Go(func() { stop(srv) })
	}
	wg.Wait()
	for _, srv := range s.servers[routes:] {
		stop(srv)
	}
	s.wg.Wait()
	return !cut.Load()
}

// stop turns readiness 503, serves on for shutdown_delay, then drains up to shutdown_timeout.
func (a *Server) stop(s *listeners) error {
	a.stopping.Store(true)
	_ = sdnotify.Notify("STOPPING=1")
	if d := a.cfg.ShutdownDelay; d > 0 {
		a.log.Info().Int64("shutdown_delay_ms", d.Milliseconds()).
			Msg("readiness is off; still serving for shutdown_delay so load balancers can stop routing here")
		time.Sleep(d)
	}
	if !s.shutdown(a.cfg.ShutdownTimeout, len(a.routes)) {
		a.log.Warn().Int64("shutdown_timeout_ms", a.cfg.ShutdownTimeout.Milliseconds()).
			Msg("requests still in flight at shutdown_timeout were cut off")
		return ErrShutdownTimeout
	}
	a.log.Info().Msg("stopped")
	return nil
}
