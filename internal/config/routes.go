package config

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// DefaultName names the route and identity of the top-level listen, upstream and auth.
const DefaultName = "default"

// RouteConfigs returns one Config per route, in order, with the route's Listen, Upstream (zero
// keys defaulted) and Auth; without routes, the one route default of listen, upstream and auth.
func (c *Config) RouteConfigs() []*Config {
	if len(c.Routes) == 0 {
		return []*Config{c.view(DefaultName, c.Listen, c.Upstream, DefaultName, c.Auth)}
	}
	out := make([]*Config, 0, len(c.Routes))
	for _, r := range c.Routes {
		ident, auth := cmp.Or(r.Identity, DefaultName), AuthConfig{}
		if r.Auth != nil {
			ident, auth = r.Name, *r.Auth
		} else {
			auth, _ = c.root().identity(ident)
		}
		out = append(out, c.view(r.Name, r.Listen, r.Upstream, ident, auth))
	}
	return out
}

// WithIdentity returns route c with identity name's auth; nil when there is no such identity.
func (c *Config) WithIdentity(name string) *Config {
	auth, ok := c.root().identity(name)
	if !ok {
		return nil
	}
	return c.view(c.RouteName, c.Listen, c.Upstream, name, auth)
}

// IdentityNames lists default, the identities, then routes' own auth blocks (by route name).
func (c *Config) IdentityNames() []string {
	names := []string{DefaultName}
	for _, id := range c.Identities {
		names = append(names, id.Name)
	}
	for _, r := range c.Routes {
		if r.Auth != nil {
			names = append(names, r.Name)
		}
	}
	return names
}

// ForIdentity returns the first route that uses the identity name, else the first route with
// that identity's auth; nil when there is no such identity.
func (c *Config) ForIdentity(name string) *Config {
	routes := c.RouteConfigs()
	for _, rc := range routes {
		if rc.IdentityName == name {
			return rc
		}
	}
	return routes[0].WithIdentity(name)
}

// ForRoute returns the route name from RouteConfigs; nil when there is none.
func (c *Config) ForRoute(name string) *Config {
	for _, rc := range c.RouteConfigs() {
		if rc.RouteName == name {
			return rc
		}
	}
	return nil
}

func (c *Config) root() *Config {
	if c.parent != nil {
		return c.parent
	}
	return c
}

// identity returns the auth of the identity name (default: auth).
func (c *Config) identity(name string) (AuthConfig, bool) {
	for _, id := range c.Identities {
		if id.Name == name {
			return id.AuthConfig, true
		}
	}
	return c.Auth, name == DefaultName
}

// view is c as one route sees it.
func (c *Config) view(route, listen string, up UpstreamConfig, ident string, auth AuthConfig) *Config {
	v := *c
	v.parent = c.root()
	v.RouteName, v.IdentityName, v.Listen = route, ident, listen
	d := Defaults()
	v.Upstream, v.Auth = filled(up, d.Upstream), filled(auth, d.Auth)
	return &v
}

// filled returns v with every zero field but booleans (false is a value) set from def.
func filled[T any](v, def T) T {
	fill(reflect.ValueOf(&v).Elem(), reflect.ValueOf(def))
	return v
}

func fill(v, def reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch {
		case !f.CanSet() || f.Kind() == reflect.Bool: // false is said, not left out
		case f.Kind() == reflect.Struct:
			fill(f, def.Field(i))
		case f.IsZero() || f.Kind() == reflect.Slice && f.Len() == 0:
			f.Set(def.Field(i))
		}
	}
}

// fillDefaults sets every zero key to its default, but admin.listen, where "" means off.
func (c *Config) fillDefaults() {
	adminListen := c.Admin.Listen
	fill(reflect.ValueOf(c).Elem(), reflect.ValueOf(Defaults()))
	c.Admin.Listen = adminListen
}

var routeName = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// validateRoutes checks routes and identities, each upstream and auth block with its key.
func (c *Config) validateRoutes(add func(key, format string, args ...any)) map[string]bool {
	d := Defaults()
	names := map[string]bool{DefaultName: true}
	for i, id := range c.Identities {
		p := fmt.Sprintf("identities[%d].", i)
		checkName(p+"name", id.Name, "identity", names, add)
		validateRanges(reflect.ValueOf(id), p, add)
		validateAuth(filled(id.AuthConfig, d.Auth), p, add)
	}
	validateAuth(filled(c.Auth, d.Auth), "auth.", add)
	if len(c.Routes) == 0 {
		validateUpstream(filled(c.Upstream, d.Upstream), "upstream.", c.Auth.Source, add)
		return names
	}
	for _, k := range [][2]string{{"upstream.url", c.Upstream.URL}, {"upstream.region", c.Upstream.Region}, {"upstream.ca_file", c.Upstream.CAFile}} {
		if k[1] != "" {
			add(k[0], "is set together with routes; set it in each route's upstream, or remove routes")
		}
	}
	if c.SetBy("listen") != "" {
		add("listen", "is set together with routes; each route has its own listen")
	}
	routes, addrs := map[string]bool{}, map[string]string{}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d].", i)
		checkName(p+"name", r.Name, "route", routes, add)
		validateRanges(reflect.ValueOf(r), p, add)
		if err := checkListen(r.Listen, false); err != nil {
			add(p+"listen", "%v", err)
		} else if other, dup := addrs[r.Listen]; dup && !strings.HasSuffix(r.Listen, ":0") {
			add(p+"listen", "%q of route %s is also the listen address of route %s; give each route its own", r.Listen, r.Name, other)
		}
		addrs[r.Listen] = r.Name
		auth, ok := c.identity(r.Identity)
		switch {
		case r.Auth != nil && r.Identity != "":
			add(p+"identity", "%q is set together with auth; set only one of them", r.Identity)
		case r.Auth != nil:
			auth = *r.Auth
			if names[r.Name] {
				add(p+"name", "%q is also an identity's name; a route with its own auth names its identity, so rename one", r.Name)
			}
			validateAuth(filled(auth, d.Auth), p+"auth.", add)
		case r.Identity != "" && !ok:
			add(p+"identity", "%q names no identity; use one of %s", r.Identity, nameList(names))
		}
		validateUpstream(filled(r.Upstream, d.Upstream), p+"upstream.", filled(auth, d.Auth).Source, add)
	}
	return names
}

// genericRoute names a route with upstream.api generic; "" when none is.
func (c *Config) genericRoute() string {
	for _, r := range c.Routes {
		if r.Upstream.API == APIGeneric {
			return r.Name
		}
	}
	return ""
}

// checkName checks a route's or identity's name and that it is new in seen.
func checkName(key, name, what string, seen map[string]bool, add func(key, format string, args ...any)) {
	switch {
	case !routeName.MatchString(name):
		add(key, "%q is not a %s name; use letters, digits and -", name, what)
	case seen[name]:
		add(key, "%q is the name of another %s; names are unique", name, what)
	}
	seen[name] = true
}

// nameList is the keys of names, sorted and comma-separated.
func nameList[V any](names map[string]V) string {
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
