package emulator

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// endpoint is one TLS listener of the emulator (the DBaaS API, or the separate IAM server)
// that can be stopped and listened again on the same address, and that closes connections
// idle for longer than the server's idle-close knob.
type endpoint struct {
	s       *Server
	name    string // "api" or "iam", for logs
	handler http.Handler
	leaf    tls.Certificate
	caPEM   []byte

	mu     sync.Mutex
	addr   string       // the requested address, then the bound one after the first listen
	srv    *http.Server // nil while stopped
	served chan struct{}
	conns  map[net.Conn]*tracked
}

// tracked is what an endpoint knows of one connection.
type tracked struct {
	idle  bool
	gen   uint64 // bumped at every state change, so a stale idle timer does nothing
	timer *time.Timer
}

func newEndpoint(s *Server, name, addr string, c certs, h http.Handler) *endpoint {
	return &endpoint{s: s, name: name, handler: h, leaf: c.leaf, caPEM: c.caPEM, addr: addr,
		conns: make(map[net.Conn]*tracked)}
}

// listen binds the address (the same one after a stop) and serves on it; listening when
// already listening does nothing.
func (ep *endpoint) listen() error {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", ep.addr)
	if err != nil {
		return fmt.Errorf("emulator: listen on %s: %w", ep.addr, err)
	}
	ep.addr = ln.Addr().String()
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(!ep.s.opts.DisableHTTP2)
	srv := &http.Server{
		Handler:           ep.handler,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{ep.leaf}},
		Protocols:         protos,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ConnState:         ep.connState,
		ErrorLog:          log.New(debugWriter{ep.s.log}, "", 0),
	}
	served := make(chan struct{})
	ep.srv, ep.served = srv, served
	go func() {
		defer close(served)
		if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			ep.s.log.Error().Err(err).Str("listener", ep.name).Msg("emulator: serve")
		}
	}()
	return nil
}

// stop closes the listener and every connection of the endpoint and waits for its accept
// loop to end; stopping a stopped endpoint does nothing.
func (ep *endpoint) stop() error {
	ep.mu.Lock()
	srv, served := ep.srv, ep.served
	ep.srv = nil
	for c, t := range ep.conns {
		if t.timer != nil {
			t.timer.Stop()
		}
		delete(ep.conns, c)
	}
	ep.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	<-served
	if err != nil {
		return fmt.Errorf("emulator: close %s listener: %w", ep.name, err)
	}
	return nil
}

// address returns the bound address, also while stopped.
func (ep *endpoint) address() string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.addr
}

// connState tracks connections and arms the idle-close timer of a connection gone idle.
func (ep *endpoint) connState(c net.Conn, state http.ConnState) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	t := ep.conns[c]
	switch state {
	case http.StateNew:
		ep.s.rec.connections.Add(1)
		ep.conns[c] = &tracked{}
		return
	case http.StateHijacked, http.StateClosed:
		if t != nil && t.timer != nil {
			t.timer.Stop()
		}
		delete(ep.conns, c)
		return
	}
	if t == nil { // a late state change of a connection dropped by stop
		return
	}
	t.gen++
	t.idle = state == http.StateIdle
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	if d := time.Duration(ep.s.idleClose.Load()); t.idle && d > 0 {
		gen := t.gen
		t.timer = time.AfterFunc(d, func() { ep.closeIdle(c, gen) })
	}
}

// closeIdle closes c at the TCP level, without a TLS close_notify or HTTP/2 GOAWAY, as a load
// balancer does, if it is still idle since the state change gen.
func (ep *endpoint) closeIdle(c net.Conn, gen uint64) {
	ep.mu.Lock()
	t := ep.conns[c]
	still := t != nil && t.idle && t.gen == gen
	if still {
		t.timer = nil
	}
	ep.mu.Unlock()
	if !still {
		return
	}
	ep.s.rec.idleClosed.Add(1)
	ep.s.log.Debug().Str("listener", ep.name).Str("remote", c.RemoteAddr().String()).
		Msg("emulator: closing an idle connection")
	if tc, ok := c.(*tls.Conn); ok {
		_ = tc.NetConn().Close()
		return
	}
	_ = c.Close()
}

// SetIdleClose makes the server close, at the TCP level and without warning, every
// connection that stays idle (no request in flight) for d, as a load balancer closing idle
// keep-alive connections does. It applies from the next time a connection becomes idle;
// d <= 0 turns it off (the default, apart from Options.IdleClose). It covers the IAM
// listener too.
func (s *Server) SetIdleClose(d time.Duration) {
	if d < 0 {
		d = 0
	}
	s.idleClose.Store(int64(d))
}

// StopListening simulates an upstream restart going down: it closes the DBaaS listener and
// every connection to it, so that dials to Addr are refused, until ResumeListening. Handlers
// in flight see their connection closed. Counters, tokens, faults and data are kept. The
// separate IAM listener, if any, stays up.
func (s *Server) StopListening() error {
	if !s.enter() {
		return errClosed
	}
	defer s.active.Done()
	return s.api.stop()
}

// ResumeListening listens again on the same address after StopListening (a no-op when
// listening). It fails if the address has been taken in between or the server is closed.
func (s *Server) ResumeListening() error {
	if !s.enter() {
		return errClosed
	}
	defer s.active.Done()
	return s.api.listen()
}

var errClosed = errors.New("emulator: the server is closed")
