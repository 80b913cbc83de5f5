package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// Validate checks the configuration without touching files or the network and returns every
// problem at once (errors.Join). Each problem starts with its key ("upstream.url: ..."),
// quotes the bad value and says what would be valid.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, configerr.Newf(key, format, args...))
	}
	if err := checkListen(c.Listen, false); err != nil {
		add("listen", "%v", err)
	}
	c.validateRanges(add)
	identities := c.validateRoutes(add)
	for i, cl := range c.Inbound.Clients {
		key := fmt.Sprintf("inbound.clients[%d].identity", i)
		if auth, ok := c.identity(cl.Identity); cl.Identity != "" && !ok {
			add(key, "%q names no identity; use one of %s", cl.Identity, nameList(identities))
		} else if generic := c.genericRoute(); cl.Identity != "" && generic != "" && filled(auth, Defaults().Auth).Source == SourceDBaaS {
			add(key, "%q takes its token from the DBaaS Manager, but route %s is generic and needs an IAM token", cl.Identity, generic)
		}
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default: // zerolog also takes numbers, "disabled", "fatal" and "panic", which silence lines
		add("log.level", "%q is not a level; use trace, debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "text", "console":
	default:
		add("log.format", "%q is not a format; use auto (text on a terminal, else JSON: log lines go to stderr, or to log.file), json or text", c.Log.Format)
	}
	if err := checkListen(c.Admin.Listen, true); c.Admin.Listen != "" && err != nil {
		add("admin.listen", "%v", err)
	}
	if err := c.Admin.Validate(); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for _, rc := range c.RouteConfigs() {
		if c.Admin.Listen == rc.Listen && !strings.HasSuffix(rc.Listen, ":0") {
			add("admin.listen", "%q is also the proxy's listen address; give the admin listener its own port, or \"\" to disable it", c.Admin.Listen)
		}
		for _, p := range configerr.List(c.Inbound.Validate(rc.Listen)) {
			if !seen[p.Error()] {
				seen[p.Error()] = true
				errs = append(errs, p)
			}
		}
	}
	return errors.Join(errs...)
}

// maxima are the largest values of the numeric keys; other durations take maxDuration and
// other numbers maxNumber. Beyond them a value is a mistake, or overflows where it is used.
var maxima = map[string]int64{
	"auth.max_replay_bytes":           64 << 20,
	"inbound.max_header_bytes":        1 << 20,
	"inbound.max_body_bytes":          1 << 40,
	"inbound.max_concurrent_requests": 1 << 20,
	"inbound.min_body_rate":           1 << 30,
}

const (
	maxNumber   = 1 << 16
	maxDuration = int64(24 * time.Hour)
)

// validateRanges refuses a number or duration below zero or above its maximum; keys whose
// zero makes no sense check their lower bound themselves.
func (c *Config) validateRanges(add func(key, format string, args ...any)) {
	for _, k := range Keys() {
		v, _ := c.field(k.Name)
		hi, ok := maxima[k.Name]
		if k.Name == "auth.max_replay_bytes" && v.Int() < 0 {
			continue // -1 never replays a body; validateAuth refuses the rest
		}
		switch n := v.Int; {
		case v.Type() == durationType && (n() < 0 || n() > maxDuration):
			add(k.Name, "%v is out of range; use 0s to %v", time.Duration(n()), time.Duration(maxDuration))
		case v.Type() != durationType && v.CanInt() && !ok && (n() < 0 || n() > maxNumber):
			add(k.Name, "%d is out of range; use 0 to %d", n(), maxNumber)
		case v.Type() != durationType && v.CanInt() && ok && (n() < 0 || n() > hi):
			add(k.Name, "%d is out of range; use 0 to %d", n(), hi)
		}
	}
}

// prefixed returns add with the first part of each key ("upstream", "auth") replaced by
// prefix ("routes[0].upstream.", "identities[1].").
func prefixed(prefix string, add func(key, format string, args ...any)) func(key, format string, args ...any) {
	return func(key, format string, args ...any) {
		_, rest, _ := strings.Cut(key, ".")
		add(prefix+rest, format, args...)
	}
}

// validateUpstream checks an upstream block whose keys start with prefix; source is the
// auth.source of its route's identity.
func validateUpstream(u UpstreamConfig, prefix, source string, add0 func(key, format string, args ...any)) {
	add := prefixed(prefix, add0)
	switch u.API {
	case APIDBaaS:
	case APIGeneric:
		if u.Region != "" {
			add("upstream.region", "%q is set but upstream.api is generic; set upstream.url to the API's base URL", u.Region)
		}
		if source == SourceDBaaS {
			add("upstream.api", "generic needs an IAM token: set the identity's auth.source to iam, trusted_profile, vpc or command (dbaas tokens are for the DBaaS Manager only)")
		}
	default:
		add("upstream.api", "%q is not an API; use dbaas (the DBaaS Manager, the default) or generic (any IBM Cloud API taking an IAM token)", u.API)
	}
	switch {
	case u.URL == "" && u.Region == "":
		add("upstream.url", "not set; set upstream.url (e.g. https://dbaas900.hyperp-dbaas.cloud.ibm.com:20000) or upstream.region (%s)", nameList(regions))
	case u.URL != "" && u.Region != "":
		add("upstream.region", "%q is set together with upstream.url; set only one of them", u.Region)
	case u.Region != "" && regions[u.Region] == "":
		add("upstream.region", "%q is not a region; use one of %s, or set upstream.url", u.Region, nameList(regions))
	case u.URL != "":
		if err := checkURL(u.URL, "the DBaaS Manager speaks only TLS", "paths come from the requests", "; use https://HOST:PORT"); err != "" {
			add("upstream.url", "%q %s", u.URL, err)
		}
	}
	if u.CAFile == "" && u.API == APIDBaaS { // generic: "" is the system roots
		add("upstream.ca_file", "not set; set it to the CA file (PEM) downloaded from the service dashboard")
	}
	if u.Timeout < 0 {
		add("upstream.timeout", "%q is negative; use e.g. 60s, or 0 for the default", u.Timeout)
	}
	if u.MaxIdleConns < 0 {
		add("upstream.max_idle_conns", "%d is negative; use 0 for the default", u.MaxIdleConns)
	}
	if u.MaxConns < 0 {
		add("upstream.max_conns", "%d is negative; use 0 for the default %d", u.MaxConns, upstream.DefaultMaxConns)
	}
	if u.IdleTimeout < time.Second {
		add("upstream.idle_timeout", "%q is too short; use e.g. 45s, below the idle timeout of the load balancers in front of the upstream (often 60s)", u.IdleTimeout)
	}
	if u.ProxyURL != "" {
		if err := checkProxyURL(u.ProxyURL); err != nil {
			add("upstream.proxy_url", "%v", err)
		}
	}
	for i, p := range u.Pins {
		if err := upstream.ValidatePin(p); err != nil {
			add(fmt.Sprintf("upstream.pins[%d]", i), "%s", strings.TrimPrefix(err.Error(), "upstream.pins: "))
		}
	}
}

// checkProxyURL checks upstream.proxy_url; its errors never quote the password.
func checkProxyURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a URL; use http://HOST:PORT or https://HOST:PORT")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q must be an http:// or https:// URL", upstream.Redact(u))
	case u.Hostname() == "":
		return fmt.Errorf("%q has no host; use http://HOST:PORT", upstream.Redact(u))
	case u.Path != "" && u.Path != "/" || u.RawQuery != "":
		return fmt.Errorf("%q must have no path or query; use http://HOST:PORT", upstream.Redact(u))
	}
	return nil
}

// checkURL checks a base URL and returns what is wrong with it, or "": tls says why it must
// be https ("" allows http too), paths why it must have no path, use how to fix it.
func checkURL(raw, tls, paths, use string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a URL" + use
	case tls == "" && u.Scheme != "https" && u.Scheme != "http":
		return "must be an http:// or https:// URL" + use
	case tls != "" && u.Scheme != "https":
		return "must be an https:// URL: " + tls + use
	case u.Hostname() == "":
		return "has no host" + use
	case u.User != nil:
		return "must not carry a user name or password" + use
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return "must have no path, query or fragment: " + paths + use
	}
	return ""
}

// validateAuth checks an auth block whose keys start with prefix.
func validateAuth(a AuthConfig, prefix string, add0 func(key, format string, args ...any)) {
	add := prefixed(prefix, add0)
	validateSource(a, add)
	if !strings.HasPrefix(a.TokenPath, "/") {
		add("auth.token_path", "%q must be a path starting with /, e.g. /api/v1/auth/token", a.TokenPath)
	}
	switch strings.ToLower(a.Header) {
	case "", "x-auth-token", "authorization":
	default:
		add("auth.header", "%q is not supported; use x-auth-token, authorization (Authorization: Bearer, API v3 only) or \"\" (by auth.source)", a.Header)
	}
	for i, s := range a.RefreshOn {
		if s != 401 && s != 403 {
			// A replay after any other status (a 500, say) could run a POST twice.
			add(fmt.Sprintf("auth.refresh_on[%d]", i), "%d is not allowed; only 401 and 403 can mean that the token is no longer good (a replay after another status could run a request twice)", s)
		}
	}
	if a.DefaultLifetime < 0 {
		add("auth.default_lifetime", "%q is negative; use e.g. 55m, or 0 for the default", a.DefaultLifetime)
	}
	if a.Timeout < 0 {
		add("auth.timeout", "%q is negative; use e.g. 30s, or 0 for the default", a.Timeout)
	}
	if a.MinRefreshInterval < time.Second {
		add("auth.min_refresh_interval", "%q is too short; use at least 1s (the default 30s keeps clients from making the proxy hammer the token endpoint)", a.MinRefreshInterval)
	}
	if a.APIKeyFile != "" && len(a.APIKeyCommand) > 0 {
		add("auth.api_key_command", "is set together with auth.api_key_file; set only one of them")
	} else if len(a.APIKeyCommand) > 0 && strings.TrimSpace(a.APIKeyCommand[0]) == "" {
		add("auth.api_key_command[0]", "is empty; the first item is the program, e.g. [security, find-generic-password, -s, dbaas, -w]")
	}
	if a.MaxReplayBytes < -1 {
		add("auth.max_replay_bytes", "%d is negative; use -1 to never replay a request with a body, or 0 for the default", a.MaxReplayBytes)
	}
}

// checkListen checks a listen address: host:port, or unix:/path when unix is allowed.
func checkListen(addr string, tcpOnly bool) error {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok && !tcpOnly {
		switch {
		case runtime.GOOS == "windows":
			return fmt.Errorf("%q: unix: sockets are not supported on Windows, where they cannot be made owner-only; listen on 127.0.0.1:PORT", addr)
		case !filepath.IsAbs(path):
			return fmt.Errorf("%q: the socket path must be absolute, e.g. unix:/run/dbaas-proxy/proxy.sock", addr)
		case len(path) > 103: // sun_path holds 104 bytes on macOS, 108 on Linux, with a final NUL
			return fmt.Errorf("%q: the socket path has %d bytes, more than the 103 a socket address holds; use a shorter one", addr, len(path))
		}
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		if tcpOnly {
			return fmt.Errorf("%q is not HOST:PORT (e.g. 127.0.0.1:9090)", addr)
		}
		return fmt.Errorf("%q is not HOST:PORT (e.g. 127.0.0.1:20000) or unix:/path", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || len(port) > 5 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535", addr)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("%q: the host must be an IP address or localhost", addr)
	}
	return nil
}
