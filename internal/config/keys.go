package config

import (
	"encoding"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
)

// EnvPrefix starts every configuration variable, followed by the dotted key in upper case
// with . as _ (upstream.ca_file is DBAAS_PROXY_UPSTREAM_CA_FILE).
const EnvPrefix = "DBAAS_PROXY_"

// EnvName is the environment variable of the dotted key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Key is one scalar configuration key: one that can be set from the environment or a flag.
type Key struct {
	Name string // the dotted key, e.g. "upstream.ca_file"
	Env  string // its variable, e.g. "DBAAS_PROXY_UPSTREAM_CA_FILE"
	Type string // what it takes, in words: "a duration", "a list of whole numbers", ...
	Path bool   // a file path: relative ones in a file resolve against the file's folder
}

// Keys lists every scalar key of Config, found by reflection on the yaml tags. Lists of
// mappings (inbound.clients, routes, identities) are file-only.
func Keys() []Key {
	var keys []Key
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for _, n := range fieldNames(t) {
			f, key := structFields(t)[n], joinKey(prefix, n)
			switch {
			case settable(f.typ):
				keys = append(keys, Key{Name: key, Env: EnvName(key), Type: typeName(f.typ), Path: f.path})
			case f.typ.Kind() == reflect.Struct:
				walk(f.typ, key)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return keys
}

type field struct {
	index []int // for reflect.Value.FieldByIndex
	typ   reflect.Type
	path  bool // named file or *_file, or tagged path:"true": a relative path resolves against the config file's folder
}

// fieldNames lists the yaml key names of struct t in the order of its fields.
func fieldNames(t reflect.Type) []string {
	fields := structFields(t)
	names := slices.Collect(maps.Keys(fields))
	sort.Slice(names, func(i, j int) bool { return slices.Compare(fields[names[i]].index, fields[names[j]].index) < 0 })
	return names
}

// structFields maps the yaml key names of struct t to its fields.
func structFields(t reflect.Type) map[string]field {
	m := make(map[string]field, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" && strings.HasSuffix(f.Tag.Get("yaml"), ",inline") {
			for n, sub := range structFields(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				m[n] = sub
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		isPath := f.Tag.Get("path") == "true" || name == "file" || strings.HasSuffix(name, "_file")
		m[name] = field{index: []int{i}, typ: f.Type, path: isPath && f.Type.Kind() == reflect.String}
	}
	return m
}

var durationType = reflect.TypeOf(time.Duration(0))

func isScalarKind(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// settable reports whether t can be given as one string: a scalar or a list of scalars.
func settable(t reflect.Type) bool {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t == durationType || isScalarKind(t.Kind())
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case t.Kind() == reflect.Slice:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(typeName(t.Elem()), "a "), "an ") + "s"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case isScalarKind(t.Kind()):
		return "a whole number"
	}
	return "a " + t.String()
}

// exampleOf says how to write a value of t; given the bad text, it suggests the fix.
func exampleOf(t reflect.Type, bad ...string) string {
	switch {
	case t == durationType:
		if len(bad) > 0 {
			if _, err := strconv.ParseFloat(bad[0], 64); err == nil {
				return "write " + bad[0] + "s (or another unit: ms, s, m, h)"
			}
		}
		return "write a number with a unit, e.g. 60s, 500ms, 5m"
	case t.Kind() == reflect.Bool:
		return "write true or false"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "write a number, e.g. 2.5"
	case t.Kind() == reflect.String:
		return "write the text, quoted if it holds a colon"
	case isScalarKind(t.Kind()):
		return "write a whole number, e.g. 1024"
	}
	return ""
}

// parseScalar parses s (from the environment or a flag) as a value of t, as the file's YAML
// would. A list is comma-separated; "" is the empty list.
func parseScalar(t reflect.Type, s string) (reflect.Value, string) {
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.Slice:
		if strings.TrimSpace(s) == "" {
			return reflect.MakeSlice(t, 0, 0), ""
		}
		parts := strings.Split(s, ",")
		out := reflect.MakeSlice(t, len(parts), len(parts))
		for i, p := range parts {
			e, problem := parseScalar(t.Elem(), strings.TrimSpace(p))
			if problem != "" {
				return v, fmt.Sprintf("item %d: %s", i+1, problem)
			}
			out.Index(i).Set(e)
		}
		return out, ""
	case reflect.String: // as it is, even "null" or "a: b"
		v.SetString(s)
		return v, ""
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			return v, err.Error()
		}
		return v, ""
	}
	n := yaml.Node{Kind: yaml.ScalarNode, Value: s}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		return v, fmt.Sprintf("%q is not %s; %s", s, typeName(t), exampleOf(t, s))
	}
	return v, ""
}

// set sets the scalar key to the text s, which came from source (a flag or a variable).
// Relative paths stay relative: they resolve against the working directory.
func (c *Config) set(key, s, source string) *Error {
	v, f, ok := c.field(key)
	if !ok {
		return &Error{Source: source, Key: key, Problem: "unknown key"}
	}
	if f.path {
		s = expandHome(s)
	}
	nv, problem := parseScalar(v.Type(), s)
	if problem != "" {
		return &Error{Source: source, Key: key, Problem: problem}
	}
	v.Set(nv)
	if c.origins == nil {
		c.origins = map[string]origin{}
	}
	for k := range c.origins { // a list set from here replaces the file's items
		if strings.HasPrefix(k, key+"[") {
			delete(c.origins, k)
		}
	}
	c.origins[key] = origin{source: source}
	return nil
}

func envKeys() map[string]Key {
	m := map[string]Key{}
	for _, k := range Keys() {
		m[k.Env] = k
	}
	return m
}

// kubernetesServiceVar matches the variables Kubernetes (enableServiceLinks) gives every pod
// for a Service named dbaas-proxy: DBAAS_PROXY_SERVICE_HOST, _SERVICE_PORT*, _PORT*.
var kubernetesServiceVar = regexp.MustCompile(`^DBAAS_PROXY_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)$`)

// applyEnv sets every key whose DBAAS_PROXY_ variable is in environ. A DBAAS_PROXY_ variable
// that names no scalar key is an error, so that a typo does not pass unseen.
func applyEnv(c *Config, environ []string) []*Error {
	byEnv := envKeys()
	var errs []*Error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		source := "environment variable " + name
		k, ok := byEnv[name]
		if !ok && kubernetesServiceVar.MatchString(name) {
			continue // Kubernetes sets these for a Service named dbaas-proxy
		}
		if !ok {
			errs = append(errs, &Error{Source: source, Problem: "names no config key", Hint: unknownEnvHint(name, byEnv)})
			continue
		}
		if err := c.set(k.Name, value, source); err != nil {
			errs = append(errs, err)
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Source < errs[j].Source })
	return errs
}

// unknownEnvHint suggests the variable meant, if one is close.
func unknownEnvHint(name string, known map[string]Key) string {
	hint := "the variables are " + EnvPrefix + "KEY for each scalar key (lists of mappings such as inbound.clients, routes and identities are file-only); see dbaas-proxy help"
	if c := configerr.Closest(name, slices.Sorted(maps.Keys(known))); c != "" {
		hint = "did you mean " + c + "? " + hint
	}
	return hint
}

// Value returns the value of the scalar key as text ("" for an unknown key); a list is
// comma-separated, as in its variable.
func (c *Config) Value(key string) string {
	v, _, ok := c.field(key)
	if !ok {
		return ""
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// field is the value of the dotted key in c and its field; false for an unknown key.
func (c *Config) field(key string) (v reflect.Value, f field, ok bool) {
	v = reflect.ValueOf(c).Elem()
	for _, part := range strings.Split(key, ".") {
		if v.Kind() != reflect.Struct {
			return v, f, false
		}
		if f, ok = structFields(v.Type())[part]; !ok {
			return v, f, false
		}
		v = v.FieldByIndex(f.index)
	}
	return v, f, true
}
