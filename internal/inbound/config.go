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

// Config is the `inbound:` section; the zero value is safe on loopback, a zero limit its Default.
type Config struct {
	// AllowedOrigins lists the Origins (scheme://host[:port]) of web pages allowed to call the
	// proxy: they pass the browser check and get CORS headers. Empty: no web page may.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHosts lists the Host values accepted: without a port any port, with one exactly; "*"
	// any. Empty: localhost, 127.0.0.1, [::1] and the listen address (an empty Host on a Unix
	// socket); in gateway mode with inbound authentication, any Host.
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
	// AllowCIDRs lists the source networks allowed, checked first; Unix socket peers always pass.
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
	// ReadHeaderTimeout bounds a request's line and headers; slower connections close (slow loris).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyIdleTimeout cuts a request body that sends no byte that long: 408, the connection closed.
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	// MinBodyRate is the slowest average body rate, in bytes per second, judged 30 s after the
	// first byte; a slower body is cut like a stalled one.
	MinBodyRate Rate `yaml:"min_body_rate"`
	// WriteIdleTimeout cuts a response whose client does not read for that long.
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

// Client is one caller allowed in, by a bearer token whose SHA-256 is TokenSHA256 or a CertCN.
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

// authConfigured reports whether a client CA or a client with a token is configured.
func (c Config) authConfigured() bool {
	return c.TLS.ClientCAFile != "" ||
		slices.ContainsFunc(c.Clients, func(cl Client) bool { return cl.TokenSHA256 != "" })
}

// pathPolicy reports whether any path rule exists, globally or for a client.
func (c Config) pathPolicy() bool {
	return len(c.AllowPaths) > 0 || len(c.DenyPaths) > 0 ||
		slices.ContainsFunc(c.Clients, func(cl Client) bool { return len(cl.AllowPaths) > 0 })
}

// Rate is bytes per second, a whole number or with a unit: "1024", "1KiB", "2MiB".
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

// Limits are a Config's connection limits with every zero replaced by its default.
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
