package config

import (
	"fmt"

	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// AdminConfig is the `admin:` section of the configuration file.
type AdminConfig struct {
	// Listen is the admin listener's address, host:port ("" disables it). On a loopback address
	// everything is open to local processes; on any other address the status page, /status.json
	// and the POSTs need a bearer token of Clients (/healthz, /readyz and /metrics stay open).
	Listen string `yaml:"listen"`
	// AllowedHosts are further Host values answered (host, address or host:port; "*": any),
	// compared case-insensitively. Set it when Listen is not a loopback address.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Clients may use the status page, /status.json and the POSTs from afar with a bearer token
	// whose SHA-256 is their token_sha256 (only name and token_sha256 are used). Empty: nobody.
	Clients []inbound.Client `yaml:"clients"`
}

// validate adds the problems of admin.allowed_hosts; Config.Validate checks the rest.
func (c AdminConfig) validate(add func(key, format string, args ...any)) {
	for i, h := range c.AllowedHosts {
		if !netrule.ValidHost(h) {
			add(fmt.Sprintf("admin.allowed_hosts[%d]", i), "%q is not a Host value; use a host "+
				"name or address with an optional port, such as \"admin.internal\" or \"10.0.0.5:9090\" "+
				"(IPv6 in brackets: \"[fd00::5]:9090\"), or \"*\" to accept any", h)
		}
	}
}
