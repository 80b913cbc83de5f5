package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/sdnotify"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// keyPollInterval is how often the API key file's modification time is checked. Tests
// shorten it.
var keyPollInterval = 10 * time.Second

// listen opens a listener: TCP host:port, or unix:/path for a Unix socket created with mode
// 0600 (only the owner may connect: other users of the machine must not borrow the API key).
func listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: another process is serving on it", addr)
		}
		_ = os.Remove(path) // a stale socket of an earlier run
	}
	old := syscall.Umask(0o177) // the socket is born 0600: no window in which others may connect
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	return l, os.Chmod(path, 0o600)
}

// servers are the app's HTTP servers, started by start and stopped by shutdown.
type servers struct {
	proxy, admin *http.Server
	errs         chan error
	wg           sync.WaitGroup
}

// start listens on the proxy and admin addresses and serves them. Listening errors are
// returned at once; a server that fails later reports on s.errs.
func (a *app) start() (*servers, error) {
	s := &servers{errs: make(chan error, 2)}
	pl, err := listen(a.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	errLog := proxy.ErrorLog(a.log, zerolog.DebugLevel) // TLS handshake noise of port scanners
	s.proxy = &http.Server{
		Handler:           a.proxy,
		ReadHeaderTimeout: a.guard.ReadHeaderTimeout(), // a slow-loris client cannot hold a connection
		IdleTimeout:       a.guard.IdleTimeout(),
		MaxHeaderBytes:    a.guard.MaxHeaderBytes(),
		TLSConfig:         a.guard.TLSConfig(),
		ErrorLog:          errLog,
	}
	var al net.Listener
	if a.cfg.Admin.Listen != "" {
		if al, err = listen(a.cfg.Admin.Listen); err != nil {
			pl.Close()
			return nil, fmt.Errorf("admin.listen: %w", err)
		}
		s.admin = &http.Server{Handler: a.admin, ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout: 60 * time.Second, ErrorLog: errLog}
	}
	inboundTLS := s.proxy.TLSConfig != nil // read before Serve, which changes the server
	s.serve(s.proxy, pl, inboundTLS)
	if s.admin != nil {
		s.serve(s.admin, al, false)
	}
	a.log.Info().Str("listen", pl.Addr().String()).Bool("tls", inboundTLS).
		Str("admin", a.cfg.Admin.Listen).Str("upstream", a.cfg.UpstreamURL()).
		Str("api_key_source", a.keys.source()).Msg("dbaas-proxy serving")
	return s, nil
}

func (s *servers) serve(srv *http.Server, l net.Listener, tls bool) {
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
// what is left. It reports whether everything finished in time.
func (s *servers) shutdown(timeout time.Duration) bool {
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

// run serves until ctx ends or a signal arrives on sig: SIGHUP reloads; SIGTERM or SIGINT
// turns readiness off and shuts down gracefully; a second SIGTERM or SIGINT, even after a
// SIGHUP, calls forceExit with that signal.
func (a *app) run(ctx context.Context, sig <-chan os.Signal, forceExit func(os.Signal)) error {
	srv, err := a.start()
	if err != nil {
		return err
	}
	bg, stopBG := context.WithCancel(ctx)
	a.tokens.Start()
	// cleanup stops what runs beside the servers: first the key watcher (it could start a new
	// exchange), then the token source (cancelling an exchange in flight), then the pool.
	cleanup := func() {
		stopBG()
		a.tokens.Close()
		a.upstream.close()
	}
	go a.keys.watch(bg, keyPollInterval, a.keyChanged, func(err error) {
		a.log.Error().Err(err).Msg("the API key file changed but cannot be used; keeping the old key")
	})
	if err := sdnotify.Notify("READY=1"); err != nil {
		a.log.Warn().Err(err).Msg("cannot notify systemd")
	}
	for {
		select {
		case <-ctx.Done():
			return a.stop(srv, sig, forceExit, cleanup)
		case err := <-srv.errs:
			srv.shutdown(time.Second)
			cleanup()
			return fmt.Errorf("serve: %w", err)
		case s := <-sig:
			if s == syscall.SIGHUP {
				a.reload()
				continue
			}
			a.log.Info().Str("signal", s.String()).Msg("shutting down: finishing requests in flight")
			return a.stop(srv, sig, forceExit, cleanup)
		}
	}
}

// stop is the graceful shutdown: readiness 503 at once, then stop accepting, then wait, then
// cleanup. A second signal forces the exit at any point of it.
func (a *app) stop(srv *servers, sig <-chan os.Signal, forceExit func(os.Signal), cleanup func()) error {
	a.stopping.Store(true)
	_ = sdnotify.Notify("STOPPING=1")
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sig:
				if s == syscall.SIGHUP {
					continue // no reload while stopping; keep waiting for a second SIGTERM
				}
				a.log.Warn().Str("signal", s.String()).Msg("second signal: exiting at once")
				forceExit(s)
				return
			case <-done:
				return
			}
		}
	}()
	clean := srv.shutdown(a.cfg.ShutdownTimeout)
	cleanup()
	if !clean {
		a.log.Warn().Dur("shutdown_timeout", a.cfg.ShutdownTimeout).
			Msg("requests still in flight at shutdown_timeout were cut off")
		return errShutdownTimeout
	}
	a.log.Info().Msg("stopped")
	return nil
}

var errShutdownTimeout = errors.New("shutdown: requests were still in flight at shutdown_timeout")

// keyChanged is called when the API key changed: the current token belongs to the old key.
func (a *app) keyChanged() {
	a.log.Info().Str("api_key_source", a.keys.source()).Msg("the API key changed; fetching a new token")
	a.tokens.Reset()
}

// reload re-reads the API key file, the CA file and the inbound TLS files (SIGHUP). A broken
// new file is logged and the old one stays in use.
func (a *app) reload() {
	_ = sdnotify.Reloading()
	defer func() { _ = sdnotify.Notify("READY=1") }()
	a.log.Info().Msg("SIGHUP: reloading the API key, CA and TLS files")
	if changed, err := a.keys.reload(); err != nil {
		a.log.Error().Err(err).Msg("keeping the old API key")
	} else if changed {
		a.keyChanged()
	}
	if pool, err := readCA(a.cfg.Upstream.CAFile); err != nil {
		a.log.Error().Err(err).Msg("keeping the old CA")
	} else {
		a.upstream.swap(newUpstreamTransport(a.cfg, pool))
	}
	if err := a.guard.Reload(); err != nil {
		a.log.Error().Err(err).Msg("keeping the old inbound TLS files")
	}
}
