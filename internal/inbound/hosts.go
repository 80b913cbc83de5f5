package inbound

import (
	"net"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// newHostRule compiles the Host rule for cfg on listen; see Config.AllowedHosts.
func newHostRule(cfg Config, listen string) netrule.HostRule {
	if len(cfg.AllowedHosts) > 0 {
		return netrule.NewHostRule(cfg.AllowedHosts...)
	}
	if !netrule.IsLoopbackListen(listen) && cfg.authConfigured() {
		return netrule.NewHostRule("*")
	}
	entries := []string{"localhost", "127.0.0.1", "[::1]"}
	if strings.HasPrefix(listen, "unix:") {
		return netrule.NewHostRule(entries...).WithEmpty()
	}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // an IPv6 address, as a Host header writes it
		}
		entries = append(entries, host)
	}
	return netrule.NewHostRule(entries...)
}
