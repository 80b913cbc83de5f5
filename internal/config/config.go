// Package config is dbaas-proxy's configuration: the types, the defaults (Defaults), and
// Resolve, which layers a strictly decoded YAML file, DBAAS_PROXY_* variables and flags (Keys)
// over the defaults, remembers where each value came from (Source) and reports every problem
// at once as *Error values. It reads the config file only; the files it names, the server reads.
//
// It may import the library packages whose options and defaults it holds (internal/inbound,
// internal/upstream, tokensource), internal/netrule and internal/configerr; never proxy/,
// internal/admin (which imports proxy) or internal/server (TestPackageGraph checks).
package config

import (
	"crypto/x509"
	"net/url"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// Config is the whole configuration; config.example.yaml documents every (public) key name.
type Config struct {
	Listen          string         `yaml:"listen"`
	ShutdownTimeout time.Duration  `yaml:"shutdown_timeout"`
	ShutdownDelay   time.Duration  `yaml:"shutdown_delay"`
	Upstream        UpstreamConfig `yaml:"upstream"`
	Auth            AuthConfig     `yaml:"auth"`
	// Identities are named credentials (keys of auth); file-only. auth is the one named default.
	Identities []Identity `yaml:"identities"`
	// Routes are the listeners; file-only. Empty: one route, default, of listen, upstream, auth.
	Routes  []Route        `yaml:"routes"`
	Log     LogConfig      `yaml:"log"`
	Admin   AdminConfig    `yaml:"admin"`
	Inbound inbound.Config `yaml:"inbound"`

	// RouteName and IdentityName name the route and identity of a Config returned by
	// RouteConfigs or ForIdentity; "" in the Config that Resolve returns.
	RouteName    string `yaml:"-"`
	IdentityName string `yaml:"-"`

	parent  *Config           // the Config a route's view was made from; nil in it
	origins map[string]origin // where each key's value came from; nil for Defaults()
	file    string            // the config file, "" when none
}

// Identity is one entry of identities: a name and the keys of auth.
type Identity struct {
	Name       string `yaml:"name"`
	AuthConfig `yaml:",inline"`
}

// Route is one entry of routes: a listener, its upstream and its identity (or its own Auth).
type Route struct {
	Name     string         `yaml:"name"` // letters, digits and -
	Listen   string         `yaml:"listen"`
	Upstream UpstreamConfig `yaml:"upstream"`
	Identity string         `yaml:"identity"`
	Auth     *AuthConfig    `yaml:"auth"`
}

// The values of upstream.api.
const (
	// APIDBaaS forwards /api/ only and answers the token endpoint and /me/ locally. The default.
	APIDBaaS = "dbaas"
	// APIGeneric forwards every path byte for byte with Authorization: Bearer; no local endpoints.
	APIGeneric = "generic"
)

// UpstreamConfig says where the DBaaS Manager is and how to trust it.
type UpstreamConfig struct {
	URL          string        `yaml:"url"`
	Region       string        `yaml:"region"`
	CAFile       string        `yaml:"ca_file"`
	ServerName   string        `yaml:"server_name"`
	Timeout      time.Duration `yaml:"timeout"`
	HTTP2        bool          `yaml:"http2"`
	MaxIdleConns int           `yaml:"max_idle_conns"`
	// MaxConns caps the TLS connections to the upstream; requests beyond it queue for one.
	MaxConns int `yaml:"max_conns"`
	// IdleTimeout drops a pooled connection idle that long, before a load balancer does.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Pins, when set, require an upstream chain certificate with one of these SPKI pins.
	Pins []string `yaml:"pins"`
	// API is APIDBaaS or APIGeneric (any IBM Cloud API taking an IAM token).
	API string `yaml:"api"`
	// ProxyURL is the http(s) CONNECT proxy for the upstream and IAM; "" means direct.
	ProxyURL string `yaml:"proxy_url"`
}

// AuthConfig says how to obtain and attach the access token.
type AuthConfig struct {
	// APIKeyFile holds the API key (console JSON or bare key); re-read on SIGHUP and on change.
	APIKeyFile string `yaml:"api_key_file"`
	// APIKeyCommand (no shell) prints the API key; run at start and on every reload, within 10 s.
	// Used when APIKeyFile is "".
	APIKeyCommand   []string      `yaml:"api_key_command"`
	TokenPath       string        `yaml:"token_path"`
	Header          string        `yaml:"header"`
	RefreshOn       []int         `yaml:"refresh_on"`
	DefaultLifetime time.Duration `yaml:"default_lifetime"`
	MaxReplayBytes  int64         `yaml:"max_replay_bytes"`
	// MinRefreshInterval paces the exchanges that clients can cause (an upstream refresh_on
	// status, POST /token/refresh): a burst of 2, then one per interval.
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval"`
	// Timeout bounds each token exchange (DBaaS, IAM, metadata, command).
	Timeout time.Duration `yaml:"timeout"`
	// Source is where the access token comes from: one of the Source* constants.
	Source      string `yaml:"source"`
	IAMURL      string `yaml:"iam_url"`
	IAMCAFile   string `yaml:"iam_ca_file"`   // "" means the system roots
	CRTokenFile string `yaml:"cr_token_file"` // "" means IBMCLOUD_CR_TOKEN, else go-sdk-core's default paths
	ProfileID   string `yaml:"profile_id"`
	ProfileCRN  string `yaml:"profile_crn"`
	ProfileName string `yaml:"profile_name"`
	AccountID   string `yaml:"account_id"` // "" means the token's account.bss claim
	// MetadataURL is the VPC instance metadata service (auth.source vpc); "" means
	// IBMCLOUD_CR_VPC_URL, else http://169.254.169.254.
	MetadataURL string `yaml:"metadata_url"`
	// TokenCommand is a command and its arguments (no shell) that prints the token (auth.source
	// command), run at every exchange within 30 s.
	TokenCommand []string `yaml:"token_command"`
}

// LogConfig sets the log level, format and destination.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
	// File is a file the log lines are appended to (created 0600, reopened on SIGHUP for
	// logrotate); "" means stderr.
	File string `yaml:"file"`
}

// regions maps upstream.region to the public host of that region.
var regions = map[string]string{
	"us-south": "dbaas900.hyperp-dbaas.cloud.ibm.com",
	"eu-de":    "dbaas902.hyperp-dbaas.cloud.ibm.com",
	"au-syd":   "dbaas904.hyperp-dbaas.cloud.ibm.com",
	"us-east":  "dbaas906.hyperp-dbaas.cloud.ibm.com",
}

// Defaults returns the configuration with every default set; a file overrides what it names.
// A key set to its zero value (0, "", []) means its default too, in routes and identities as
// at the top; admin.listen: "" alone means off.
func Defaults() Config {
	return Config{
		Listen:          "127.0.0.1:20000",
		ShutdownTimeout: 30 * time.Second,
		Upstream: UpstreamConfig{Timeout: upstream.DefaultTimeout, HTTP2: true, MaxConns: upstream.DefaultMaxConns,
			MaxIdleConns: upstream.DefaultMaxConns, IdleTimeout: upstream.DefaultIdleTimeout, API: APIDBaaS},
		Auth: AuthConfig{
			TokenPath:          "/api/v1/auth/token",
			RefreshOn:          []int{401},
			DefaultLifetime:    55 * time.Minute,
			MaxReplayBytes:     1 << 20,
			MinRefreshInterval: tokensource.DefaultMinRefreshInterval,
			Source:             SourceDBaaS,
			IAMURL:             tokensource.DefaultIAMURL,
			MetadataURL:        tokensource.DefaultMetadataURL,
			Timeout:            30 * time.Second,
		},
		Log:   LogConfig{Level: "info", Format: "auto"},
		Admin: AdminConfig{Listen: "127.0.0.1:9090"},
		Inbound: inbound.Config{
			MaxConcurrentRequests: inbound.DefaultMaxConcurrentRequests,
			MaxHeaderBytes:        inbound.DefaultMaxHeaderBytes,
			ReadHeaderTimeout:     inbound.DefaultReadHeaderTimeout,
			IdleTimeout:           inbound.DefaultIdleTimeout,
			MinBodyRate:           inbound.DefaultMinBodyRate,
		},
	}
}

// UpstreamOptions are the options of the upstream transport of c's upstream, trusting pool.
func (c *Config) UpstreamOptions(pool *x509.CertPool) upstream.Options {
	u := c.Upstream
	return upstream.Options{
		CAPool: pool, ServerName: u.ServerName, HTTP1Only: !u.HTTP2, Timeout: u.Timeout,
		MaxConns: u.MaxConns, MaxIdleConns: u.MaxIdleConns, IdleTimeout: u.IdleTimeout, Pins: u.Pins,
		ProxyURL: c.UpstreamProxy(),
	}
}

// UpstreamProxy returns upstream.proxy_url parsed (Validate checked it), or nil when unset.
func (c *Config) UpstreamProxy() *url.URL {
	if c.Upstream.ProxyURL == "" {
		return nil
	}
	u, _ := url.Parse(c.Upstream.ProxyURL)
	return u
}

// UpstreamURL returns the base URL of the DBaaS Manager: upstream.url, or the public host
// of upstream.region on port 20000.
func (c *Config) UpstreamURL() string {
	if c.Upstream.URL != "" {
		return c.Upstream.URL
	}
	if h, ok := regions[c.Upstream.Region]; ok {
		return "https://" + h + ":20000"
	}
	return ""
}
