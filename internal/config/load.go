package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
)

// Error is one configuration problem: its key, where the value came from, what is wrong and
// how to fix it. Resolve returns every problem at once, as an errors.Join of *Error.
type Error = configerr.Error

// Flag is a configuration value given on the command line.
type Flag struct {
	Name  string // the flag's name without the dash, for Source ("flag -listen")
	Key   string // the dotted config key it sets
	Value string
}

// Sources are where Resolve takes the configuration from. Precedence: Flags, then the
// environment, then File, then Defaults.
type Sources struct {
	// File is the YAML config file; "" means none (the environment and flags alone).
	File string
	// Environ is the environment as "NAME=value" lines (os.Environ); nil means none. IBM's
	// variables (HPDB_URL, IBMCLOUD_CR_*) set what nothing else did.
	Environ []string
	// Flags are the command-line values, applied last.
	Flags []Flag
}

// Resolve builds the configuration from src over the defaults and validates it (see Error).
func Resolve(src Sources) (*Config, error) {
	cfg, problems := Defaults(), []*Error(nil)
	if src.File != "" {
		data, err := files.Read("-config", src.File, files.MaxConfig)
		if err != nil {
			return nil, &Error{Source: src.File, Problem: "cannot read the config file: " + err.Error()}
		}
		c, d, err := decode(src.File, data)
		if err != nil {
			return nil, err
		}
		cfg, problems = *c, d.errs
	}
	cfg.file = src.File
	problems = append(problems, applyEnv(&cfg, src.Environ)...)
	for _, f := range src.Flags {
		if err := cfg.set(f.Key, f.Value, "flag -"+f.Name); err != nil {
			problems = append(problems, err)
		}
	}
	if src.Environ != nil { // IBM's variables, below every other source
		env := map[string]string{}
		for _, kv := range src.Environ {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		cfg.applyIBM(func(k string) string { return env[k] })
	}
	cfg.fillDefaults()
	// Validate even when some values could not be decoded, so that a type error or an unknown
	// key does not hide the other problems; a key already reported is not reported again.
	for _, p := range configerr.List(cfg.locate(cfg.Validate())) {
		if !reported(problems, p.Key) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, configerr.Join(problems)
	}
	return &cfg, nil
}

// reported reports whether problems hold one about key or a key above or below it.
func reported(problems []*Error, key string) bool {
	for _, p := range problems {
		if p.Key != "" && (p.Key == key || strings.HasPrefix(key, p.Key+".") || strings.HasPrefix(key, p.Key+"[") ||
			strings.HasPrefix(p.Key, key+".") || strings.HasPrefix(p.Key, key+"[")) {
			return true
		}
	}
	return false
}

// decode decodes data over the defaults; the problems of single values are in the decoder's
// errs, and the error is one that stops decoding (YAML syntax, or not a mapping).
func decode(file string, data []byte) (*Config, *decoder, error) {
	cfg := Defaults()
	cfg.origins = map[string]origin{}
	dir := ""
	if abs, err := filepath.Abs(file); err == nil {
		dir = filepath.Dir(abs)
	}
	d := &decoder{file: file, dir: dir, origins: cfg.origins}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) { // an empty file: all defaults
			return &cfg, d, nil
		}
		return nil, nil, syntaxError(file, data, err)
	}
	if budget := countNodes(&root, maxNodes); budget < 0 {
		return nil, nil, &Error{Source: file, Problem: fmt.Sprintf("the file expands to more than %d YAML nodes "+
			"(aliases, *name, repeat what they point to)", maxNodes), Hint: "write the values out instead of nesting aliases"}
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return nil, nil, &Error{Source: at(file, second.Line), Line: second.Line,
			Problem: "the file holds more than one YAML document (a --- line)", Hint: "keep one document"}
	}
	doc := root.Content[0]                                  // root is the document, which holds one node
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" { // only comments, or "~"
		return &cfg, d, nil
	}
	if doc.Kind != yaml.MappingNode {
		return nil, nil, &Error{Source: at(file, doc.Line), Line: doc.Line,
			Problem: "the file holds " + kindName(doc) + ", not a mapping of keys",
			Hint:    "write one key: value per line, as in config.example.yaml (dbaas-proxy config example)"}
	}
	d.value(doc, reflect.ValueOf(&cfg).Elem(), "")
	return &cfg, d, nil
}

// maxNodes caps the nodes of a config file with its aliases expanded: a few nested aliases
// (a "billion laughs") would otherwise take minutes and gigabytes to decode.
const maxNodes = 100_000

// countNodes subtracts the nodes of n, aliases expanded, from budget and returns what is left;
// it stops below zero, so it costs at most budget steps.
func countNodes(n *yaml.Node, budget int) int {
	budget--
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return countNodes(n.Alias, budget)
	}
	for _, c := range n.Content {
		if budget < 0 {
			break
		}
		budget = countNodes(c, budget)
	}
	return budget
}

// decoder decodes a YAML node tree into a Config, collecting every problem.
type decoder struct {
	file, dir string
	origins   map[string]origin
	errs      []*Error
}

func (d *decoder) fail(n *yaml.Node, key, problem, hint string) {
	d.errs = append(d.errs, &Error{Source: at(d.file, n.Line), Line: n.Line, Key: key, Problem: problem, Hint: hint})
}

// value decodes n into v, the field of key.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t := v.Type(); {
	case t == durationType || t.Kind() != reflect.Struct && t.Kind() != reflect.Slice && t.Kind() != reflect.Pointer:
		d.scalar(n, v, key)
	case t.Kind() == reflect.Struct:
		d.mapping(n, v, key)
	case t.Kind() == reflect.Slice:
		d.sequence(n, v, key)
	default: // a pointer, routes[].auth: nil when absent
		v.Set(reflect.New(t.Elem()))
		d.value(n, v.Elem(), key)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "upstream:" with nothing under it: the defaults stay
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, key, kindName(n)+" where a mapping of keys belongs", "write the keys of "+key+" indented below it, one key: value per line")
		return
	}
	fields := structFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		sub := joinKey(key, k.Value)
		f, ok := fields[k.Value]
		switch {
		case !ok:
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			sort.Strings(names)
			hint := "valid keys here: " + strings.Join(names, ", ")
			if c := configerr.Closest(k.Value, names); c != "" {
				hint = "did you mean " + c + "? " + hint
			}
			d.fail(k, sub, "unknown key", hint)
			continue
		case seen[k.Value] > 0:
			d.fail(k, sub, fmt.Sprintf("set twice (first on line %d)", seen[k.Value]), "keep one")
			continue
		}
		seen[k.Value] = k.Line
		d.origins[sub] = origin{source: at(d.file, k.Line), line: k.Line}
		fv := v.FieldByIndex(f.index)
		d.value(val, fv, sub)
		if f.path && fv.String() != "" {
			fv.SetString(expandHome(fv.String()))
			if relative(fv.String()) {
				fv.SetString(filepath.Join(d.dir, fv.String()))
			}
		}
	}
}

// relative reports a non-empty path that follows the config file's folder: not absolute, and on
// Windows not rooted either (/etc/x and \etc\x mean the current drive's root there).
func relative(p string) bool {
	return !filepath.IsAbs(p) && filepath.VolumeName(p) == "" && !os.IsPathSeparator(p[0])
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, key, fmt.Sprintf("%s is not a list", quoteNode(n)), "write a list, e.g. [a, b], or one \"- item\" per line")
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		sub := fmt.Sprintf("%s[%d]", key, i)
		if r, ok := out.Index(i).Addr().Interface().(*Route); ok {
			r.Upstream = Defaults().Upstream // so that http2, left out, is its default true
		}
		d.origins[sub] = origin{source: at(d.file, item.Line), line: item.Line}
		d.value(item, out.Index(i), sub)
	}
	v.Set(out)
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, key, kindName(n)+" where "+typeName(v.Type())+" belongs", exampleOf(v.Type()))
		return
	}
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		d.fail(n, key, fmt.Sprintf("%s is not %s", quoteNode(n), typeName(v.Type())), exampleOf(v.Type(), n.Value))
		return
	}
	v.Set(tmp.Elem())
}

// kindName names the kind of a node in words.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return "a single value (" + quoteNode(n) + ")"
	}
	return "something other than a mapping"
}

// quoteNode quotes a scalar's text, shortened.
func quoteNode(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	s := n.Value
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || n.Tag == "!!str" {
		return fmt.Sprintf("%q", s)
	}
	return s
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError turns a YAML syntax error (yaml.v3 has no typed one: its text is all there is)
// into an *Error naming the file and the line.
func syntaxError(file string, data []byte, err error) error {
	msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		fmt.Sscan(m[1], &line)
		msg = m[2]
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
			return &Error{Source: at(file, i+1), Line: i + 1, Problem: fmt.Sprintf("YAML does not allow tabs for indentation (line %d)", i+1),
				Hint: "indent with spaces"}
		}
	}
	return &Error{Source: at(file, line), Line: line, Problem: "invalid YAML: " + msg}
}

// at is the Source of a value on line of file.
func at(file string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// origin is where a key's value came from.
type origin struct {
	source string // "config.yaml:12", "environment variable DBAAS_PROXY_LISTEN", "flag -listen"
	line   int    // the line in the file; 0 when not from the file
}

// Source says where the value of key came from: "FILE:LINE", "environment variable NAME" or
// "flag -NAME" (of key, or of its closest parent that was set); "" for a default.
func (c *Config) Source(key string) string { return c.origin(key).source }

// SetBy says where the value of key itself came from, like Source, but "" when key was not
// set (its value is the default, or comes with its parent's).
func (c *Config) SetBy(key string) string { return c.origins[key].source }

func (c *Config) origin(key string) origin {
	for key != "" {
		if o, ok := c.origins[key]; ok {
			return o
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return origin{}
}

// locate fills in where each validation problem's value came from.
func (c *Config) locate(err error) error {
	problems := configerr.List(err)
	for _, p := range problems {
		if p.Source != "" {
			continue
		}
		o := c.origin(p.Key)
		p.Source, p.Line = o.source, o.line
		if o.source == "" && p.Key != "" && strings.HasPrefix(p.Problem, "not set") {
			p.Source = c.file
			if _, scalar := envKeys()[EnvName(p.Key)]; scalar {
				p.Hint = strings.TrimPrefix(p.Hint+"; or set the variable "+EnvName(p.Key), "; ")
			}
		}
	}
	return configerr.Join(problems)
}

// expandHome turns a leading "~/" into the user's home folder, as a shell would.
func expandHome(p string) string {
	if home, err := os.UserHomeDir(); err == nil && strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}
