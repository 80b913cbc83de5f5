package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/sdnotify"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// ErrShutdownTimeout is what Serve returns when requests were still in flight at
// shutdown_timeout and were cut off.
var ErrShutdownTimeout = errors.New("shutdown: requests were still in flight at shutdown_timeout")

// listeners are the server's HTTP servers and their listeners, opened by Listen.
type listeners struct {
	proxy, admin   *http.Server
	proxyL, adminL net.Listener
	inboundTLS     bool
	errs           chan error
	wg             sync.WaitGroup
}

// Listen opens the proxy's and the admin listener's addresses. It returns the first error
// (an address in use, say) and opens nothing then.
func (a *Server) Listen() error {
	if a.ls != nil {
		return errors.New("server: Listen called twice")
	}
	s := &listeners{errs: make(chan error, 2)}
	pl, err := listen(a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	errLog := proxy.ErrorLog(a.log, zerolog.DebugLevel) // TLS handshake noise of port scanners
	s.proxyL = pl
	s.proxy = &http.Server{Handler: a.proxy, ErrorLog: errLog}
	a.guard.ConfigureServer(s.proxy)        // header limits and timeouts, inbound TLS
	s.inboundTLS = s.proxy.TLSConfig != nil // read before Serve, which changes the server
	if a.cfg.Admin.Listen != "" {
		if s.adminL, err = listen(a.cfg.Admin.Listen); err != nil {
			pl.Close()
			return fmt.Errorf("admin.listen: %w", err)
		}
		s.admin = &http.Server{Handler: a.admin, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10,
			IdleTimeout: 60 * time.Second, ErrorLog: errLog}
	}
	a.ls = s
	return nil
}

// Addr is the proxy listener's address; nil before Listen.
func (a *Server) Addr() net.Addr {
	if a.ls == nil {
		return nil
	}
	return a.ls.proxyL.Addr()
}

// AdminAddr is the admin listener's address; nil before Listen or when it is disabled.
func (a *Server) AdminAddr() net.Addr {
	if a.ls == nil || a.ls.adminL == nil {
		return nil
	}
	return a.ls.adminL.Addr()
}

// Run is Listen, then Serve.
func (a *Server) Run(ctx context.Context) error {
	if err := a.Listen(); err != nil {
		return err
	}
	return a.Serve(ctx)
}

// Serve serves on the listeners that Listen opened until ctx ends, then shuts down
// gracefully: readiness turns 503 at once, the listeners keep serving for shutdown_delay, then
// they stop accepting and requests in flight get shutdown_timeout to finish. It returns
// ErrShutdownTimeout if some were cut off, or the error of a server that failed.
func (a *Server) Serve(ctx context.Context) error {
	s := a.ls
	if s == nil {
		return errors.New("server: Serve called before Listen")
	}
	s.serve(s.proxy, s.proxyL, s.inboundTLS)
	if s.admin != nil {
		s.serve(s.admin, s.adminL, false)
	}
	a.log.Info().Str("listen", s.proxyL.Addr().String()).Bool("tls", s.inboundTLS).
		Str("admin", a.cfg.Admin.Listen).Str("upstream", a.cfg.UpstreamURL()).
		Str("token_source", a.cfg.Auth.Source).Str("credential", a.credentialSource()).Msg("dbaas-proxy serving")

	bg, stopBG := context.WithCancel(context.Background())
	a.tokens.Start()
	files := a.watchedFiles()
	a.watchers.Add(1)
	go func() {
		defer a.watchers.Done()
		files.run(bg, a.opts.FilePollInterval, func() { a.reload("a watched file changed") })
	}()
	a.watchers.Add(1)
	go func() {
		defer a.watchers.Done()
		a.health.Run(bg, defaultRoute, admin.ProbeInterval, a.probe)
	}()
	// cleanup stops what runs beside the servers: first the file watcher, waited for (it could
	// start a new exchange), then the token source (cancelling an exchange in flight), then the
	// upstream pool.
	cleanup := func() {
		stopBG()
		a.watchers.Wait()
		a.closed.Store(true) // a reload in progress (a slow api_key_command) is not waited for
		a.tokens.Close()
		a.upstream.CloseIdleConnections()
		if a.iam != nil {
			a.iam.close()
		}
	}
	if err := sdnotify.Notify("READY=1"); err != nil {
		a.log.Warn().Err(err).Msg("cannot notify systemd")
	}
	select {
	case <-ctx.Done():
		return a.stop(s, cleanup)
	case <-a.quit:
		a.log.Info().Msg("shutting down: POST /quitquitquit; finishing requests in flight")
		return a.stop(s, cleanup)
	case err := <-s.errs:
		a.stopping.Store(true)
		s.shutdown(time.Second)
		cleanup()
		return fmt.Errorf("serve: %w", err)
	}
}

func (s *listeners) serve(srv *http.Server, l net.Listener, tls bool) {
	s.wg.Add(1)
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

// shutdown stops accepting, lets requests in flight finish within timeout, then closes
// what is left. The admin listener stops last, so probes see 503 rather than a refused
// connection while the proxy drains. It reports whether everything finished in time.
func (s *listeners) shutdown(timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	clean := true
	for _, srv := range []*http.Server{s.proxy, s.admin} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			clean = false
			srv.Close()
		}
	}
	s.wg.Wait()
	return clean
}

// stop is the graceful shutdown: readiness 503 at once, serve on for shutdown_delay, then
// stop accepting, wait up to shutdown_timeout, then cleanup.
func (a *Server) stop(s *listeners, cleanup func()) error {
	a.stopping.Store(true)
	_ = sdnotify.Notify("STOPPING=1")
	if d := a.cfg.ShutdownDelay; d > 0 {
		a.log.Info().Int64("shutdown_delay_ms", d.Milliseconds()).
			Msg("readiness is off; still serving for shutdown_delay so load balancers can stop routing here")
		time.Sleep(d)
	}
	clean := s.shutdown(a.cfg.ShutdownTimeout)
	cleanup()
	if !clean {
		a.log.Warn().Int64("shutdown_timeout_ms", a.cfg.ShutdownTimeout.Milliseconds()).
			Msg("requests still in flight at shutdown_timeout were cut off")
		return ErrShutdownTimeout
	}
	a.log.Info().Msg("stopped")
	return nil
}
