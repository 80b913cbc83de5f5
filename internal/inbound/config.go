package inbound

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults applied when a limit in Config is zero.
const (
	DefaultMaxConcurrentRequests = 1024     // Config.MaxConcurrentRequests when 0
	DefaultMaxHeaderBytes        = 64 << 10 // Config.MaxHeaderBytes when 0
	DefaultMinBodyRate           = 1 << 10  // Config.MinBodyRate when 0, bytes per second

	DefaultReadHeaderTimeout = 10 * time.Second  // Config.ReadHeaderTimeout when 0
	DefaultIdleTimeout       = 120 * time.Second // Config.IdleTimeout when 0
	DefaultBodyIdleTimeout   = 30 * time.Second  // Config.BodyIdleTimeout when 0
	DefaultWriteIdleTimeout  = 30 * time.Second  // Config.WriteIdleTimeout when 0
)

// Config is the `inbound:` section of the configuration file, decoded with yaml.v3 and
// KnownFields(true). The zero value is the safe default for a loopback listener: no origins
// allowed, the default Host list, no authentication, no path rules, no body limit, 1024
// concurrent requests, 64 KiB of headers sent within 10 s, request bodies that may pause 30 s
// between bytes, and idle connections kept 120 s.
type Config struct {
	// AllowedOrigins lists the Origins (scheme://host[:port]) of web pages allowed to call the
	// proxy, e.g. "http://localhost:8888". Their requests pass the browser check and get CORS
	// headers, so that the page can read the answers; their preflights are answered locally.
	// Empty: no web page may.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHosts lists the Host header values accepted. An entry without a port matches that
	// host with any port or none; an entry with a port matches exactly; "*" disables the check.
	// Empty: localhost, 127.0.0.1 and [::1] plus the listen address (and, on a Unix socket, an
	// empty Host); in gateway mode with inbound authentication, any Host.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AllowUnauthenticatedRemote allows a non-loopback listen address without inbound
	// authentication. Anyone who can reach the listener can then use the API key.
	AllowUnauthenticatedRemote bool `yaml:"allow_unauthenticated_remote"`
	// AllowPaths lists regular expressions (Go syntax, unanchored unless written with ^ and $)
	// matched against the escaped path; a request must match one. Empty: every path.
	AllowPaths []string `yaml:"allow_paths"`
	// DenyPaths lists regular expressions; a request whose escaped path matches one is refused.
	DenyPaths []string `yaml:"deny_paths"`
	// DenyMethods lists HTTP methods refused (compared case-insensitively), e.g. DELETE.
	DenyMethods []string `yaml:"deny_methods"`
	// AllowCIDRs lists the source networks allowed to connect, checked first. Unix socket peers
	// always pass. Empty: every source.
	AllowCIDRs []string `yaml:"allow_cidrs"`
	// TLS makes the listener serve HTTPS and, with a client CA, require client certificates.
	TLS TLSConfig `yaml:"tls"`
	// Clients lists the callers allowed in, each by bearer token hash or certificate CN.
	Clients []Client `yaml:"clients"`
	// MaxBodyBytes caps request bodies; larger ones get 413. 0: unlimited.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxConcurrentRequests caps requests in flight; beyond it requests get 503 at once.
	// 0: DefaultMaxConcurrentRequests.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// MaxHeaderBytes caps request headers (http.Server.MaxHeaderBytes). 0: DefaultMaxHeaderBytes.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ReadHeaderTimeout is how long a client may take to send a request's line and headers
	// (http.Server.ReadHeaderTimeout); a slower connection is closed without an answer, so a
	// slow-loris client cannot hold it. 0: DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyIdleTimeout is how long a request body may send no byte before it is cut: the client
	// gets 408 (if no answer has started), the connection is closed and its
	// max_concurrent_requests slot is freed, so that clients trickling bodies cannot hold every
	// slot. 0: DefaultBodyIdleTimeout.
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	// MinBodyRate is the slowest average rate, in bytes per second since its first byte, at
	// which a request body may arrive once it has been arriving for 30 s; a slower one is cut
	// like a stalled one (408, connection closed, slot freed). 0: DefaultMinBodyRate.
	MinBodyRate Rate `yaml:"min_body_rate"`
	// WriteIdleTimeout is how long a response may wait for the client to read before it is
	// cut and its upstream connection freed, so that clients that do not read cannot hold
	// every upstream connection. 0: DefaultWriteIdleTimeout.
	WriteIdleTimeout time.Duration `yaml:"write_idle_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next request
	// (http.Server.IdleTimeout) before it is closed. 0: DefaultIdleTimeout.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// TLSConfig names the PEM files for inbound TLS. All empty: plain HTTP.
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`      // the server certificate chain; needs KeyFile
	KeyFile      string `yaml:"key_file"`       // the server private key; needs CertFile
	ClientCAFile string `yaml:"client_ca_file"` // CAs for client certificates; "" asks for none
}

// Client is one caller allowed in. It authenticates with a bearer token whose SHA-256 is
// TokenSHA256, or with a client certificate whose subject CN is CertCN.
type Client struct {
	Name        string   `yaml:"name"`         // unique; shown in logs and metrics
	TokenSHA256 string   `yaml:"token_sha256"` // 64 hex digits, from `dbaas-proxy hash-token`
	CertCN      string   `yaml:"cert_cn"`      // needs tls.client_ca_file
	ReadOnly    bool     `yaml:"read_only"`    // allow only GET and HEAD
	AllowPaths  []string `yaml:"allow_paths"`  // further regular expressions; empty: no further limit
	// RatePerSecond is the sustained request rate allowed; 0: unlimited.
	RatePerSecond float64 `yaml:"rate_per_second"`
	// Burst is the number of requests allowed at once; 0: max(1, ceil(RatePerSecond)).
	Burst int `yaml:"burst"`
}

// authConfigured reports whether inbound authentication is configured: a client CA or at least
// one client with a token.
func (c Config) authConfigured() bool {
	if c.TLS.ClientCAFile != "" {
		return true
	}
	for _, cl := range c.Clients {
		if cl.TokenSHA256 != "" {
			return true
		}
	}
	return false
}

// pathPolicy reports whether any path rule exists, globally or for a client.
func (c Config) pathPolicy() bool {
	if len(c.AllowPaths) > 0 || len(c.DenyPaths) > 0 {
		return true
	}
	for _, cl := range c.Clients {
		if len(cl.AllowPaths) > 0 {
			return true
		}
	}
	return false
}

// Rate is a number of bytes per second, written as a whole number or with a unit: "1024",
// "1KiB", "2MiB".
type Rate int64

// UnmarshalText parses a Rate (yaml.v3 and the configuration's variables and flags use it).
func (r *Rate) UnmarshalText(b []byte) error {
	s, unit := string(b), int64(1)
	if t, ok := strings.CutSuffix(s, "KiB"); ok {
		s, unit = t, 1<<10
	} else if t, ok := strings.CutSuffix(s, "MiB"); ok {
		s, unit = t, 1<<20
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		return fmt.Errorf("%q is not a rate; write bytes per second, e.g. 1024 or 1KiB", b)
	}
	*r = Rate(n * unit)
	return nil
}

// Limits are the connection limits of the inbound configuration with every default applied:
// what the listener's http.Server enforces (ConfigureServer) and what the Guard enforces on
// bodies. It is the one place where a zero in Config becomes its default.
type Limits struct {
	MaxHeaderBytes    int           // http.Server.MaxHeaderBytes
	ReadHeaderTimeout time.Duration // http.Server.ReadHeaderTimeout
	IdleTimeout       time.Duration // http.Server.IdleTimeout
	BodyIdleTimeout   time.Duration // enforced by the Guard on each request body
	WriteIdleTimeout  time.Duration // enforced by the proxy on each response write
	MinBodyRate       int64         // bytes per second, enforced by the Guard from rateWindow on
	rateWindow        time.Duration // bodyRateWindow; tests shorten it
}

// bodyRateWindow is how long after its first byte a body's rate is first judged.
const bodyRateWindow = 30 * time.Second

// Limits returns c's limits, each zero replaced by its default (DefaultMaxHeaderBytes,
// DefaultReadHeaderTimeout, DefaultIdleTimeout, DefaultBodyIdleTimeout, DefaultWriteIdleTimeout,
// DefaultMinBodyRate).
func (c Config) Limits() Limits {
	return Limits{
		MaxHeaderBytes:    orDefault(c.MaxHeaderBytes, DefaultMaxHeaderBytes),
		ReadHeaderTimeout: orDefault(c.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		IdleTimeout:       orDefault(c.IdleTimeout, DefaultIdleTimeout),
		BodyIdleTimeout:   orDefault(c.BodyIdleTimeout, DefaultBodyIdleTimeout),
		WriteIdleTimeout:  orDefault(c.WriteIdleTimeout, DefaultWriteIdleTimeout),
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
