package inbound

import (
	"net/http"
	"time"
)

// Limits are the connection limits of the inbound configuration with every default applied:
// what the listener's http.Server enforces (Apply) and what the Guard enforces on bodies. It is
// the one place where a zero in Config becomes its default.
type Limits struct {
	MaxHeaderBytes    int           // http.Server.MaxHeaderBytes
	ReadHeaderTimeout time.Duration // http.Server.ReadHeaderTimeout
	IdleTimeout       time.Duration // http.Server.IdleTimeout
	BodyIdleTimeout   time.Duration // enforced by the Guard on each request body
	WriteIdleTimeout  time.Duration // enforced by the proxy on each response write
}

// Limits returns c's limits, each zero replaced by its default (DefaultMaxHeaderBytes,
// DefaultReadHeaderTimeout, DefaultIdleTimeout, DefaultBodyIdleTimeout,
// DefaultWriteIdleTimeout).
func (c Config) Limits() Limits {
	l := Limits{
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ReadHeaderTimeout: orDefault(c.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		IdleTimeout:       orDefault(c.IdleTimeout, DefaultIdleTimeout),
		BodyIdleTimeout:   orDefault(c.BodyIdleTimeout, DefaultBodyIdleTimeout),
		WriteIdleTimeout:  orDefault(c.WriteIdleTimeout, DefaultWriteIdleTimeout),
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return l
}

// Apply sets the http.Server fields the limits cover: MaxHeaderBytes, ReadHeaderTimeout (a
// slow-loris client cannot hold a connection) and IdleTimeout.
func (l Limits) Apply(srv *http.Server) {
	srv.MaxHeaderBytes = l.MaxHeaderBytes
	srv.ReadHeaderTimeout = l.ReadHeaderTimeout
	srv.IdleTimeout = l.IdleTimeout
}

// ConfigureServer sets up srv for the inbound listener: the limits (Limits.Apply) and, when
// inbound TLS is on, TLSConfig. Call it before Serve or ServeTLS.
func (g *Guard) ConfigureServer(srv *http.Server) {
	g.limits.Apply(srv)
	srv.TLSConfig = g.TLSConfig()
}

// Limits returns the limits the Guard was built with.
func (g *Guard) Limits() Limits { return g.limits }

// MaxHeaderBytes returns Limits().MaxHeaderBytes. Kept for the runtime; prefer ConfigureServer.
func (g *Guard) MaxHeaderBytes() int { return g.limits.MaxHeaderBytes }

// ReadHeaderTimeout returns Limits().ReadHeaderTimeout. Kept for the runtime; prefer
// ConfigureServer.
func (g *Guard) ReadHeaderTimeout() time.Duration { return g.limits.ReadHeaderTimeout }

// IdleTimeout returns Limits().IdleTimeout. Kept for the runtime; prefer ConfigureServer.
func (g *Guard) IdleTimeout() time.Duration { return g.limits.IdleTimeout }

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
