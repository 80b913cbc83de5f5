package inbound

import (
	"net/http"
	"time"
)

// Limits are the connection limits of the inbound configuration with every default applied:
// what the listener's http.Server enforces (ConfigureServer) and what the Guard enforces on
// bodies. It is the one place where a zero in Config becomes its default.
type Limits struct {
	MaxHeaderBytes    int           // http.Server.MaxHeaderBytes
	ReadHeaderTimeout time.Duration // http.Server.ReadHeaderTimeout
	IdleTimeout       time.Duration // http.Server.IdleTimeout
	BodyIdleTimeout   time.Duration // enforced by the Guard on each request body
	MinBodyRate       int64         // bytes per second, enforced by the Guard from rateWindow on
	rateWindow        time.Duration // bodyRateWindow; tests shorten it
}

// bodyRateWindow is how long after its first byte a body's rate is first judged.
const bodyRateWindow = 30 * time.Second

// Limits returns c's limits, each zero replaced by its default (DefaultMaxHeaderBytes,
// DefaultReadHeaderTimeout, DefaultIdleTimeout, DefaultBodyIdleTimeout, DefaultMinBodyRate).
func (c Config) Limits() Limits {
	return Limits{
		MaxHeaderBytes:    orDefault(c.MaxHeaderBytes, DefaultMaxHeaderBytes),
		ReadHeaderTimeout: orDefault(c.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		IdleTimeout:       orDefault(c.IdleTimeout, DefaultIdleTimeout),
		BodyIdleTimeout:   orDefault(c.BodyIdleTimeout, DefaultBodyIdleTimeout),
		MinBodyRate:       int64(orDefault(c.MinBodyRate, DefaultMinBodyRate)),
		rateWindow:        bodyRateWindow,
	}
}

// ConfigureServer sets up srv for the inbound listener: MaxHeaderBytes, ReadHeaderTimeout (a
// slow-loris client cannot hold a connection) and IdleTimeout of the Guard's Limits and, when
// inbound TLS is on, TLSConfig. Call it before Serve or ServeTLS.
func (g *Guard) ConfigureServer(srv *http.Server) {
	srv.MaxHeaderBytes = g.limits.MaxHeaderBytes
	srv.ReadHeaderTimeout = g.limits.ReadHeaderTimeout
	srv.IdleTimeout = g.limits.IdleTimeout
	srv.TLSConfig = g.TLSConfig()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
