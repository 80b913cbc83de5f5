package inbound

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// problems collects configuration errors, each starting with its full key.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, configerr.Newf(key, format, args...))
}

// Validate checks c for a listener on listen, reporting every problem at once; it reads no files.
func (c Config) Validate(listen string) error {
	var p problems
	if !netrule.IsLoopbackListen(listen) && !c.authConfigured() && !c.AllowUnauthenticatedRemote {
		p.add("listen", "%q is not a loopback address, so anyone who can reach it could create and "+
			"delete database services with your IBM API key; configure inbound authentication: "+
			"inbound.clients with a token_sha256 each (from `dbaas-proxy hash-token`), or "+
			"inbound.tls.cert_file, inbound.tls.key_file and inbound.tls.client_ca_file for client "+
			"certificates; or listen on 127.0.0.1 or a unix:/path socket; or, to accept the risk, "+
			"set inbound.allow_unauthenticated_remote: true", listen)
	}
	for i, o := range c.AllowedOrigins {
		if why := checkOrigin(o); why != "" {
			p.add(fmt.Sprintf("inbound.allowed_origins[%d]", i), "%q %s", o, why)
		}
	}
	for i, h := range c.AllowedHosts {
		if !netrule.ValidHost(h) {
			p.add(fmt.Sprintf("inbound.allowed_hosts[%d]", i), "%q is not a Host value; use a host "+
				"name or address with an optional port, such as \"proxy.internal\" or \"10.0.0.5:20000\" "+
				"(IPv6 in brackets: \"[fd00::5]:20000\"), or \"*\" to accept any", h)
		}
	}
	checkRegexps(&p, "inbound.allow_paths", c.AllowPaths)
	checkRegexps(&p, "inbound.deny_paths", c.DenyPaths)
	for i, m := range c.DenyMethods {
		if !isToken(m) {
			p.add(fmt.Sprintf("inbound.deny_methods[%d]", i), "%q is not an HTTP method; use a name "+
				"such as DELETE, POST, PUT or PATCH", m)
		}
	}
	for i, s := range c.AllowCIDRs {
		if _, err := netip.ParsePrefix(s); err != nil {
			p.add(fmt.Sprintf("inbound.allow_cidrs[%d]", i), "%q is not a CIDR prefix; use a network "+
				"such as \"10.0.0.0/8\" or \"fd00::/8\" (\"192.0.2.7/32\" for one address)", s)
		}
	}
	c.TLS.validate(&p)
	c.validateClients(&p)
	return errors.Join(p...)
}

func (t TLSConfig) validate(p *problems) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		p.add("inbound.tls.key_file", "not set while inbound.tls.cert_file is %q; set both, or neither for plain HTTP", t.CertFile)
	case t.CertFile == "" && t.KeyFile != "":
		p.add("inbound.tls.cert_file", "not set while inbound.tls.key_file is %q; set both, or neither for plain HTTP", t.KeyFile)
	}
	if t.ClientCAFile != "" && (t.CertFile == "" || t.KeyFile == "") {
		p.add("inbound.tls.client_ca_file", "%q is set but client certificates are asked for only over "+
			"TLS; set inbound.tls.cert_file and inbound.tls.key_file too", t.ClientCAFile)
	}
}

// ValidateTokenClients checks clients that authenticate by bearer token only (admin.clients):
// a unique name and unique 64-hex-digit token_sha256 each, and nothing else set.
func ValidateTokenClients(key string, clients []Client) error {
	var p problems
	checkUnique(&p, key, clients)
	for i, cl := range clients {
		k := fmt.Sprintf("%s[%d]", key, i)
		if cl.TokenSHA256 == "" {
			p.add(k+".token_sha256", "not set; use the 64 hex digits printed by `dbaas-proxy hash-token`")
		}
		if cl.CertCN != "" || cl.ReadOnly || len(cl.AllowPaths) > 0 || cl.RatePerSecond != 0 || cl.Burst != 0 {
			p.add(k, "sets cert_cn, read_only, allow_paths, rate_per_second or burst, which %s does not use; "+
				"give only name and token_sha256", key)
		}
	}
	return errors.Join(p...)
}

// checkUnique checks each client's name, and token_sha256 if set, is unique and well formed.
func checkUnique(p *problems, key string, clients []Client) {
	names := map[string]int{}
	tokens := map[string]int{}
	for i, cl := range clients {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch j, dup := names[cl.Name]; {
		case cl.Name == "":
			p.add(k+".name", "not set; give each client a unique name (shown in logs and metrics)")
		case dup:
			p.add(k+".name", "%q is also the name of %s[%d]; names must be unique", cl.Name, key, j)
		default:
			names[cl.Name] = i
		}
		t := strings.ToLower(cl.TokenSHA256)
		j, dup := tokens[t]
		switch b, err := hex.DecodeString(t); {
		case t == "":
		case err != nil || len(b) != 32:
			// Not quoted: a value that is no hash may be the token itself, pasted by mistake.
			p.add(k+".token_sha256", "is not a SHA-256 hash (%d characters, value not shown in case "+
				"it is the token itself); use the 64 hex digits printed by `dbaas-proxy hash-token`", len(t))
		case dup:
			p.add(k+".token_sha256", "%q is also the token_sha256 of %s[%d]; give each client its own token", cl.TokenSHA256, key, j)
		default:
			tokens[t] = i
		}
	}
}

func (c Config) validateClients(p *problems) {
	checkUnique(p, "inbound.clients", c.Clients)
	cns := map[string]int{}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("inbound.clients[%d]", i)
		if cl.TokenSHA256 == "" && cl.CertCN == "" {
			p.add(key, "has neither token_sha256 nor cert_cn; set token_sha256 (from `dbaas-proxy "+
				"hash-token`) or cert_cn (with inbound.tls.client_ca_file)")
		}
		if cl.CertCN != "" {
			if c.TLS.ClientCAFile == "" {
				p.add(key+".cert_cn", "%q needs inbound.tls.client_ca_file, the CA that signs client certificates", cl.CertCN)
			}
			if j, dup := cns[cl.CertCN]; dup {
				p.add(key+".cert_cn", "%q is also the cert_cn of inbound.clients[%d]; each CN must name one client", cl.CertCN, j)
			} else {
				cns[cl.CertCN] = i
			}
		}
		checkRegexps(p, key+".allow_paths", cl.AllowPaths)
		cl.validateRate(p, key)
	}
}

func (cl Client) validateRate(p *problems, key string) {
	r := cl.RatePerSecond
	if r < 0 || r > 1e6 || math.IsNaN(r) || math.IsInf(r, 0) {
		p.add(key+".rate_per_second", "%v is not a rate; use 0 (no limit) to 1000000 requests per second", r)
	}
	if cl.Burst < 0 || cl.Burst > 1<<20 {
		p.add(key+".burst", "%d is out of range; use 0 (max(1, rate_per_second)) to 1048576 requests", cl.Burst)
	} else if cl.Burst > 0 && r == 0 {
		p.add(key+".burst", "%d is set without rate_per_second; set rate_per_second too, or remove burst", cl.Burst)
	}
}

func checkRegexps(p *problems, key string, exprs []string) {
	for i, e := range exprs {
		if _, err := regexp.Compile(e); err != nil {
			p.add(fmt.Sprintf("%s[%d]", key, i), "%q is not a regular expression (Go RE2 syntax, e.g. "+
				"\"^/api/v3/[0-9a-f]+/clusters/\"): %v", e, err)
		}
	}
}

// checkOrigin returns why o is not an origin as browsers send it, or "".
func checkOrigin(o string) string {
	const want = "; use scheme://host[:port] exactly as browsers send it, e.g. \"http://localhost:8888\""
	if o == "null" {
		return "would admit sandboxed pages and local files, which any site can create" + want
	}
	u, err := url.Parse(o)
	switch {
	case err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return "is not an origin" + want
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "?"):
		return "has more than scheme, host and port (browsers send no path, not even \"/\")" + want
	}
	return ""
}

// isToken reports whether s is an RFC 9110 token, the syntax of a method name.
func isToken(s string) bool {
	const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	return s != "" && strings.Trim(s, tchar) == ""
}
