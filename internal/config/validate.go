package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// Validate checks the configuration without touching files or the network and returns every
// problem at once (errors.Join), each naming its key, quoting the value and saying what is valid.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, configerr.Newf(key, format, args...))
	}
	if err := checkListen(c.Listen, false); err != nil {
		add("listen", "%v", err)
	}
	validateRanges(reflect.ValueOf(c).Elem(), "", add)
	identities := c.validateRoutes(add)
	for i, cl := range c.Inbound.Clients {
		key := fmt.Sprintf("inbound.clients[%d].identity", i)
		if auth, ok := c.identity(cl.Identity); cl.Identity != "" && !ok {
			add(key, "%q names no identity; use one of %s", cl.Identity, nameList(identities))
		} else if generic := c.genericRoute(); cl.Identity != "" && generic != "" && filled(auth, Defaults().Auth).Source == SourceDBaaS {
			add(key, "%q takes its token from the DBaaS Manager, but route %s is generic and needs an IAM token", cl.Identity, generic)
		}
	}
	// zerolog also takes numbers, "disabled", "fatal" and "panic", which silence lines.
	if !slices.Contains([]string{"trace", "debug", "info", "warn", "error"}, c.Log.Level) {
		add("log.level", "%q is not a level; use trace, debug, info, warn or error", c.Log.Level)
	}
	if !slices.Contains([]string{"auto", "json", "text", "console"}, c.Log.Format) {
		add("log.format", "%q is not a format; use auto (text on a terminal, else JSON: log lines go to stderr, or to log.file), json or text", c.Log.Format)
	}
	if err := checkListen(c.Admin.Listen, true); c.Admin.Listen != "" && err != nil {
		add("admin.listen", "%v", err)
	}
	c.Admin.validate(add)
	if err := inbound.ValidateTokenClients("admin.clients", c.Admin.Clients); err != nil {
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

// maxima are the largest values of the numeric keys, by their last name; other durations take maxDuration and
// other numbers maxNumber. Beyond them a value is a mistake, or overflows where it is used.
var maxima = map[string]int64{
	"max_replay_bytes":        64 << 20,
	"max_header_bytes":        1 << 20,
	"max_body_bytes":          1 << 40,
	"max_concurrent_requests": 1 << 20,
	"min_body_rate":           1 << 30,
}

const (
	maxNumber   = 1 << 16
	maxDuration = int64(24 * time.Hour)
)

// validateRanges refuses a number or duration of struct v (keys starting with prefix) below zero
// or above its maximum; keys whose zero makes no sense check their lower bound themselves.
func validateRanges(v reflect.Value, prefix string, add func(key, format string, args ...any)) {
	for _, name := range fieldNames(v.Type()) {
		f := structFields(v.Type())[name]
		fv, key, hi := v.FieldByIndex(f.index), prefix+name, cmp.Or(maxima[name], maxNumber)
		switch n := fv.Int; {
		case fv.Kind() == reflect.Struct:
			validateRanges(fv, key+".", add)
		case fv.Kind() == reflect.Pointer && !fv.IsNil():
			validateRanges(fv.Elem(), key+".", add)
		case !fv.CanInt() || name == "max_replay_bytes" && n() < 0: // -1 never replays; validateAuth refuses the rest
		case f.typ == durationType && (n() < 0 || n() > maxDuration):
			add(key, "%v is out of range; use 0s to %v", time.Duration(n()), time.Duration(maxDuration))
		case f.typ != durationType && (n() < 0 || n() > hi):
			add(key, "%d is out of range; use 0 to %d", n(), hi)
		}
	}
}

// validateUpstream checks an upstream block whose keys start with p; source is the
// auth.source of its route's identity.
func validateUpstream(u UpstreamConfig, p, source string, add func(key, format string, args ...any)) {
	switch u.API {
	case APIDBaaS:
	case APIGeneric:
		if u.Region != "" {
			add(p+"region", "%q is set but upstream.api is generic; set upstream.url to the API's base URL", u.Region)
		}
		if source == SourceDBaaS {
			add(p+"api", "generic needs an IAM token: set the identity's auth.source to iam, trusted_profile, vpc or command (dbaas tokens are for the DBaaS Manager only)")
		}
	default:
		add(p+"api", "%q is not an API; use dbaas (the DBaaS Manager, the default) or generic (any IBM Cloud API taking an IAM token)", u.API)
	}
	switch {
	case u.URL == "" && u.Region == "":
		add(p+"url", "not set; set upstream.url (e.g. https://dbaas900.hyperp-dbaas.cloud.ibm.com:20000) or upstream.region (%s)", nameList(regions))
	case u.URL != "" && u.Region != "":
		add(p+"region", "%q is set together with upstream.url; set only one of them", u.Region)
	case u.Region != "" && regions[u.Region] == "":
		add(p+"region", "%q is not a region; use one of %s, or set upstream.url", u.Region, nameList(regions))
	case u.URL != "":
		if err := checkURL(u.URL, "the DBaaS Manager speaks only TLS", "paths come from the requests", "; use https://HOST:PORT"); err != "" {
			add(p+"url", "%q %s", u.URL, err)
		}
	}
	if u.CAFile == "" && u.API == APIDBaaS { // generic: "" is the system roots
		add(p+"ca_file", "not set; set it to the CA file (PEM) downloaded from the service dashboard")
	}
	if u.IdleTimeout < time.Second {
		add(p+"idle_timeout", "%q is too short; use e.g. 45s, below the idle timeout of the load balancers in front of the upstream (often 60s)", u.IdleTimeout)
	}
	if u.ProxyURL != "" {
		if err := checkProxyURL(u.ProxyURL); err != nil {
			add(p+"proxy_url", "%v", err)
		}
	}
	for i, p := range u.Pins {
		if err := upstream.ValidatePin(p); err != nil {
			add(fmt.Sprintf("%spins[%d]", p, i), "%s", strings.TrimPrefix(err.Error(), "upstream.pins: "))
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

// validateAuth checks an auth block whose keys start with p.
func validateAuth(a AuthConfig, p string, add func(key, format string, args ...any)) {
	validateSource(a, p, add)
	if !strings.HasPrefix(a.TokenPath, "/") {
		add(p+"token_path", "%q must be a path starting with /, e.g. /api/v1/auth/token", a.TokenPath)
	}
	if !slices.Contains([]string{"", "x-auth-token", "authorization"}, strings.ToLower(a.Header)) {
		add(p+"header", "%q is not supported; use x-auth-token, authorization (Authorization: Bearer, API v3 only) or \"\" (by auth.source)", a.Header)
	}
	for i, s := range a.RefreshOn {
		if s != 401 && s != 403 {
			// A replay after any other status (a 500, say) could run a POST twice.
			add(fmt.Sprintf("%srefresh_on[%d]", p, i), "%d is not allowed; only 401 and 403 can mean that the token is no longer good (a replay after another status could run a request twice)", s)
		}
	}
	if a.MinRefreshInterval < time.Second {
		add(p+"min_refresh_interval", "%q is too short; use at least 1s (the default 30s keeps clients from making the proxy hammer the token endpoint)", a.MinRefreshInterval)
	}
	if a.APIKeyFile != "" && len(a.APIKeyCommand) > 0 {
		add(p+"api_key_command", "is set together with auth.api_key_file; set only one of them")
	} else if len(a.APIKeyCommand) > 0 && strings.TrimSpace(a.APIKeyCommand[0]) == "" {
		add(p+"api_key_command[0]", "is empty; the first item is the program, e.g. [security, find-generic-password, -s, dbaas, -w]")
	}
	if a.MaxReplayBytes < -1 {
		add(p+"max_replay_bytes", "%d is negative; use -1 to never replay a request with a body, or 0 for the default", a.MaxReplayBytes)
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
