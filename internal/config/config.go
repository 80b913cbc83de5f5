// Package config is dbaas-proxy's configuration: the types, the one table of defaults
// (Defaults), strict decoding of a YAML file with the line of every key (Decode, Load), and
// validation that reports every problem at once as *Error values (Validate). It reads the
// config file and nothing else: the files a config names are read by the server.
//
// It may import the library packages whose options and defaults it holds (internal/inbound,
// tokensource) and internal/configerr; never proxy/ or internal/server.
package config

import (
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
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
	Admin           AdminConfig    `yaml:"admin"`
	Inbound         inbound.Config `yaml:"inbound"`
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
}

// AuthConfig says how to obtain and attach the access token.
type AuthConfig struct {
	APIKeyFile      string        `yaml:"api_key_file"`
	TokenPath       string        `yaml:"token_path"`
	Header          string        `yaml:"header"`
	RefreshOn       []int         `yaml:"refresh_on"`
	DefaultLifetime time.Duration `yaml:"default_lifetime"`
	MaxReplayBytes  int64         `yaml:"max_replay_bytes"`
	// MinRefreshInterval paces the exchanges that clients can cause (an upstream refresh_on
	// status, POST /token/refresh): a burst of 2, then one per interval.
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval"`
	// Source is where the access token comes from: SourceDBaaS, SourceIAM or
	// SourceTrustedProfile (source.go). The IAM keys below are for the last two.
	Source      string `yaml:"source"`
	IAMURL      string `yaml:"iam_url"`
	IAMCAFile   string `yaml:"iam_ca_file"`   // "" means the system roots
	CRTokenFile string `yaml:"cr_token_file"` // "" means go-sdk-core's default paths
	ProfileID   string `yaml:"profile_id"`
	ProfileName string `yaml:"profile_name"`
	AccountID   string `yaml:"account_id"` // "" means the token's account.bss claim
}

// LogConfig sets the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// AdminConfig sets the admin listener (health, readiness, metrics, status page).
type AdminConfig struct {
	Listen       string   `yaml:"listen"`
	AllowedHosts []string `yaml:"allowed_hosts"`
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
		Upstream:        UpstreamConfig{Timeout: 60 * time.Second, MaxIdleConns: 256},
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
		},
		Log:   LogConfig{Level: "info", Format: "auto"},
		Admin: AdminConfig{Listen: "127.0.0.1:9090"},
		Inbound: inbound.Config{
			MaxConcurrentRequests: inbound.DefaultMaxConcurrentRequests,
			MaxHeaderBytes:        inbound.DefaultMaxHeaderBytes,
			ReadHeaderTimeout:     inbound.DefaultReadHeaderTimeout,
			IdleTimeout:           inbound.DefaultIdleTimeout,
		},
	}
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
