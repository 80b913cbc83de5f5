package config

import (
	"errors"
	"fmt"

	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// AdminConfig is the `admin:` section of the configuration file, decoded with yaml.v3 and
// KnownFields(true). The zero value disables the admin listener (no listen address).
type AdminConfig struct {
	// Listen is the admin listener's address, host:port ("" disables it). On a loopback address
	// everything is open to local processes; on any other address the status page, /status.json
	// and the POSTs need a bearer token of Clients (/healthz, /readyz and /metrics stay open).
	Listen string `yaml:"listen"`
	// AllowedHosts are further Host header values answered, each a host name or address (any
	// port) or a host:port (that port only), compared case-insensitively; "*" accepts any Host.
	// Set it when Listen is not a loopback address.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Clients may use the status page, /status.json and the POSTs when Listen is not loopback, each
	// with "Authorization: Bearer <token>" whose SHA-256 is its token_sha256 (the form of
	// inbound.clients; only name and token_sha256 are used). Empty: nobody may, from afar.
	Clients []inbound.Client `yaml:"clients"`
}

// Validate returns every problem of c at once (errors.Join), each naming its full key. It does
// not check Listen's syntax, which the command checks with the proxy's own listen address.
func (c AdminConfig) Validate() error {
	var errs []error
	for i, h := range c.AllowedHosts {
		if !netrule.ValidHost(h) {
			errs = append(errs, configerr.Newf(fmt.Sprintf("admin.allowed_hosts[%d]", i), "%q is not a Host value; use a host "+
				"name or address with an optional port, such as \"admin.internal\" or \"10.0.0.5:9090\" "+
				"(IPv6 in brackets: \"[fd00::5]:9090\"), or \"*\" to accept any", h))
		}
	}
	if err := inbound.ValidateTokenClients("admin.clients", c.Clients); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
