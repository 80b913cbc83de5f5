package inbound

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults applied when the Config field of the same name is zero.
const (
	DefaultMaxConcurrentRequests = 1024
	DefaultMaxHeaderBytes        = 64 << 10
	DefaultMinBodyRate           = 1 << 10 // bytes per second
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultIdleTimeout           = 120 * time.Second
	DefaultBodyIdleTimeout       = 30 * time.Second
	DefaultWriteIdleTimeout      = 30 * time.Second
)

// Config is the `inbound:` section of the configuration file. The zero value is the safe
// default for a loopback listener; a zero limit means its Default.
type Config struct {
	// AllowedOrigins lists the Origins (scheme://host[:port]) of web pages allowed to call the
	// proxy, e.g. "http://localhost:8888": they pass the browser check and get CORS headers.
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
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// MaxHeaderBytes caps request headers (http.Server.MaxHeaderBytes).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ReadHeaderTimeout is how long a client may take to send a request's line and headers; a
	// slower connection is closed without an answer (slow loris).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyIdleTimeout is how long a request body may send no byte before it is cut: 408 (if no
	// answer has started), the connection closed and its max_concurrent_requests slot freed.
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	// MinBodyRate is the slowest average rate, in bytes per second since its first byte, at
	// which a request body may arrive once it has been arriving for 30 s; a slower one is cut
	// like a stalled one.
	MinBodyRate Rate `yaml:"min_body_rate"`
	// WriteIdleTimeout is how long a response may wait for the client to read before it is
	// cut and its upstream connection freed.
	WriteIdleTimeout time.Duration `yaml:"write_idle_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next request.
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
	Identity    string   `yaml:"identity"`     // the identity whose token its requests carry; "": the route's
	AllowPaths  []string `yaml:"allow_paths"`  // further regular expressions; empty: no further limit
	// RatePerSecond is the sustained request rate allowed; 0: unlimited.
	RatePerSecond float64 `yaml:"rate_per_second"`
	// Burst is the number of requests allowed at once; 0: max(1, ceil(RatePerSecond)).
	Burst int `yaml:"burst"`
}

// authConfigured reports whether inbound authentication is configured: a client CA or at least
// one client with a token.
func (c Config) authConfigured() bool {
	return c.TLS.ClientCAFile != "" ||
		slices.ContainsFunc(c.Clients, func(cl Client) bool { return cl.TokenSHA256 != "" })
}

// pathPolicy reports whether any path rule exists, globally or for a client.
func (c Config) pathPolicy() bool {
	return len(c.AllowPaths) > 0 || len(c.DenyPaths) > 0 ||
		slices.ContainsFunc(c.Clients, func(cl Client) bool { return len(cl.AllowPaths) > 0 })
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

// Limits are the connection limits of a Config with every zero replaced by its default: the
// one place where that happens.
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

// Limits returns c's limits, each zero replaced by its default.
func (c Config) Limits() Limits {
	return Limits{
		MaxHeaderBytes:    cmp.Or(c.MaxHeaderBytes, DefaultMaxHeaderBytes),
		ReadHeaderTimeout: cmp.Or(c.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		IdleTimeout:       cmp.Or(c.IdleTimeout, DefaultIdleTimeout),
		BodyIdleTimeout:   cmp.Or(c.BodyIdleTimeout, DefaultBodyIdleTimeout),
		WriteIdleTimeout:  cmp.Or(c.WriteIdleTimeout, DefaultWriteIdleTimeout),
		MinBodyRate:       int64(cmp.Or(c.MinBodyRate, DefaultMinBodyRate)),
		rateWindow:        bodyRateWindow,
	}
}

// ConfigureServer sets srv's MaxHeaderBytes, ReadHeaderTimeout and IdleTimeout from the Limits
// and, when inbound TLS is on, a TLSConfig that reads the files last loaded at each handshake
// (so Reload needs no restart; do not set Certificates on it). Call it before Serve.
func (g *Guard) ConfigureServer(srv *http.Server) {
	srv.MaxHeaderBytes = g.limits.MaxHeaderBytes
	srv.ReadHeaderTimeout = g.limits.ReadHeaderTimeout
	srv.IdleTimeout = g.limits.IdleTimeout
	srv.TLSConfig = nil
	if g.tls != nil {
		srv.TLSConfig = g.tls.base.Clone()
	}
}
