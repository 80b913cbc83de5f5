package admin

import (
	"net"
	"net/netip"
	"strings"
)

// hostRule decides which Host header values the admin listener answers. Loopback names and
// addresses always pass: a browser page of another site can never send them, so they cannot
// be used for DNS rebinding.
type hostRule struct {
	any       bool                // "*" was listed
	hosts     map[string]struct{} // lower-case host names or addresses, any port
	hostPorts map[string]struct{} // lower-case host:port values, that port only
}

// newHostRule compiles AllowedHosts.
func newHostRule(allowed []string) hostRule {
	rule := hostRule{hosts: map[string]struct{}{}, hostPorts: map[string]struct{}{}}
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "":
		case a == "*":
			rule.any = true
		case hasPort(a):
			h, p, _ := net.SplitHostPort(a)
			rule.hostPorts[net.JoinHostPort(h, p)] = struct{}{}
		default:
			rule.hosts[strings.Trim(a, "[]")] = struct{}{}
		}
	}
	return rule
}

// allowed reports whether host (a Host header value) may be answered.
func (h hostRule) allowed(host string) bool {
	if h.any {
		return true
	}
	host = strings.ToLower(host)
	name := host
	if hasPort(host) {
		name, _, _ = net.SplitHostPort(host)
		if _, ok := h.hostPorts[host]; ok {
			return true
		}
	}
	name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
	if name == "" {
		return false
	}
	if _, ok := h.hosts[name]; ok {
		return true
	}
	return isLoopback(name)
}

// hasPort reports whether s is a valid host:port (IPv6 hosts in brackets).
func hasPort(s string) bool {
	h, p, err := net.SplitHostPort(s)
	return err == nil && h != "" && p != ""
}

// isLoopback reports whether name is "localhost" or a loopback IP address.
func isLoopback(name string) bool {
	if name == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(name)
	return err == nil && ip.Unmap().IsLoopback()
}
