// Package config is dbaas-proxy's configuration: the types, the one table of defaults
// (Defaults), and Resolve, which layers an optional YAML file (decoded strictly, node by node,
// every problem with its key, line and fix), DBAAS_PROXY_* variables and command-line flags
// (both derived from the yaml tags by reflection: Keys) over the defaults, remembers where
// each value came from (Source), and validates the result, reporting every problem at once as
// *Error values. It reads the config file and nothing else: the environment is handed to it,
// and the files a config names are read by the server.
//
// It may import the library packages whose options and defaults it holds (internal/admin,
// internal/inbound, internal/upstream, tokensource) and internal/configerr; never proxy/ or internal/server.
package config

import (
	"net/url"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// Config is the whole configuration. Every key is documented, with its default, in
// config.example.yaml; the YAML key names are part of dbaas-proxy's public interface.
type Config struct {
	Listen          string         `yaml:"listen"`
	ShutdownTimeout time.Duration  `yaml:"shutdown_timeout"`
	ShutdownDelay   time.Duration  `yaml:"shutdown_delay"`
	Upstream        UpstreamConfig `yaml:"upstream"`
	Auth            AuthConfig     `yaml:"auth"`
	Log             LogConfig      `yaml:"log"`
	Admin           admin.Config   `yaml:"admin"`
	Inbound         inbound.Config `yaml:"inbound"`

	origins map[string]origin // where each key's value came from; nil for Defaults()
	file    string            // the config file, "" when none
}

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
	// Pins, when set, require a certificate of the upstream's chain to have one of these
	// SPKI pins (sha256/<base64>), besides verifying against ca_file.
	Pins []string `yaml:"pins"`
	// ProxyURL is the http:// or https:// proxy reached with CONNECT for the upstream and
	// IAM; "" means a direct connection.
	ProxyURL string `yaml:"proxy_url"`
}

// AuthConfig says how to obtain and attach the access token.
type AuthConfig struct {
	// APIKeyFile is the file holding the API key (the JSON the console downloads, or the bare
	// key). It is re-read on SIGHUP and when it changes.
	APIKeyFile string `yaml:"api_key_file"`
	// APIKeyCommand is a command and its arguments (no shell) whose standard output, trimmed, is
	// the API key, e.g. [security, find-generic-password, -s, dbaas, -w]. It runs at start and
	// on every reload, within 10 s. Used when APIKeyFile is "".
	APIKeyCommand   []string      `yaml:"api_key_command"`
	TokenPath       string        `yaml:"token_path"`
	Header          string        `yaml:"header"`
	RefreshOn       []int         `yaml:"refresh_on"`
	DefaultLifetime time.Duration `yaml:"default_lifetime"`
	MaxReplayBytes  int64         `yaml:"max_replay_bytes"`
	// MinRefreshInterval paces the exchanges that clients can cause (an upstream refresh_on
	// status, POST /token/refresh): a burst of 2, then one per interval.
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval"`
	// Source is where the access token comes from: SourceDBaaS, SourceIAM,
	// SourceTrustedProfile, SourceVPC or SourceCommand (source.go), each using some of the
	// keys below.
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
func Defaults() Config {
	return Config{
		Listen:          "127.0.0.1:20000",
		ShutdownTimeout: 30 * time.Second,
		ShutdownDelay:   0,
		Upstream: UpstreamConfig{Timeout: upstream.DefaultTimeout, HTTP2: true, MaxConns: upstream.DefaultMaxConns,
			MaxIdleConns: upstream.DefaultMaxConns, IdleTimeout: upstream.DefaultIdleTimeout},
		Auth: AuthConfig{
			TokenPath:       "/api/v1/auth/token",
			Header:          "", // by auth.source: see AuthConfig.HeaderName
			RefreshOn:       []int{401},
			DefaultLifetime: 55 * time.Minute,
			MaxReplayBytes:  1 << 20,
			// The library's zero means the same default.
			MinRefreshInterval: tokensource.DefaultMinRefreshInterval,
			Source:             SourceDBaaS,
			IAMURL:             tokensource.DefaultIAMURL,
			MetadataURL:        tokensource.DefaultMetadataURL,
		},
		Log:   LogConfig{Level: "info", Format: "auto"},
		Admin: admin.Config{Listen: "127.0.0.1:9090"},
		Inbound: inbound.Config{
			MaxConcurrentRequests: inbound.DefaultMaxConcurrentRequests,
			MaxHeaderBytes:        inbound.DefaultMaxHeaderBytes,
			ReadHeaderTimeout:     inbound.DefaultReadHeaderTimeout,
			IdleTimeout:           inbound.DefaultIdleTimeout,
			MinBodyRate:           inbound.DefaultMinBodyRate,
		},
	}
}

// UpstreamProxy returns upstream.proxy_url parsed, or nil when it is unset (Validate has
// checked it).
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
