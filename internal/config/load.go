package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
)

// Error is one configuration problem: its key, where the value came from, what is wrong and
// how to fix it. Load and Decode return every problem at once, as an errors.Join of *Error.
type Error = configerr.Error

// Load reads, decodes and validates the configuration file at path, applying override
// (command-line flags), if any, before validating. It returns every problem at once
// (errors.Join of *Error), each naming the file, the line and the key.
func Load(path string, override ...func(*Config)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: cannot read %s: %w", path, errors.Unwrap(err))
	}
	cfg, lines, err := Decode(path, data)
	if err != nil {
		return nil, err
	}
	for _, f := range override {
		f(cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, locate(path, lines, err)
	}
	return cfg, nil
}

// Decode decodes data strictly over the defaults: an unknown key, a value of the wrong
// type or a YAML syntax error is an error naming file, line and key. It returns the line of
// every key found, for locating validation errors.
func Decode(file string, data []byte) (*Config, map[string]int, error) {
	cfg := Defaults()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, &Error{Source: at(file, yamlLine(err)), Line: yamlLine(err), Problem: yamlMessage(err)}
	}
	lines := map[string]int{}
	if len(root.Content) == 0 { // an empty file: all defaults
		return &cfg, lines, nil
	}
	var errs []error
	walkKeys(file, root.Content[0], reflect.TypeOf(cfg), "", lines, &errs)
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && err != io.EOF {
		return nil, nil, typeErrors(file, err)
	}
	return &cfg, lines, nil
}

// walkKeys checks every mapping key of n against the yaml tags of t, recording the line of
// each known key and an error for each unknown one, with the keys that would be valid.
func walkKeys(file string, n *yaml.Node, t reflect.Type, prefix string, lines map[string]int, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			walkKeys(file, item, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i), lines, errs)
		}
		return
	case n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct:
		return // scalars and type mismatches: the decoder reports those
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := joinKey(prefix, k.Value)
		ft, ok := fields[k.Value]
		if !ok {
			*errs = append(*errs, &Error{Source: at(file, k.Line), Line: k.Line, Key: key,
				Problem: "unknown key", Hint: "valid keys here: " + strings.Join(sortedKeys(fields), ", ")})
			continue
		}
		lines[key] = k.Line
		walkKeys(file, v, ft, key, lines, errs)
	}
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// yamlFields maps the yaml key names of struct t to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// typeErrors turns the decoder's errors ("line 3: cannot unmarshal !!str `x` into int") into
// Errors naming the file and line.
func typeErrors(file string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return &Error{Source: at(file, yamlLine(err)), Line: yamlLine(err), Problem: yamlMessage(err)}
	}
	errs := make([]error, 0, len(te.Errors))
	for _, e := range te.Errors {
		ce := &Error{Source: file, Problem: e}
		if m := yamlLineRE.FindStringSubmatch(e); m != nil {
			fmt.Sscan(m[1], &ce.Line)
			ce.Source, ce.Problem = at(file, ce.Line), m[2]
		}
		errs = append(errs, ce)
	}
	return errors.Join(errs...)
}

// at is the Source of a value on line of file.
func at(file string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

func yamlLine(err error) int {
	var line int
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		fmt.Sscan(m[1], &line)
	}
	return line
}

func yamlMessage(err error) string {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		return "invalid YAML: " + m[2]
	}
	return "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")
}

// locate fills in where each validation problem's value came from: the file and the line of
// its key (or of its closest parent in the file).
func locate(file string, lines map[string]int, err error) error {
	problems := configerr.List(err)
	for _, p := range problems {
		if p.Source == "" {
			p.Line = lineOf(lines, p.Key)
			p.Source = at(file, p.Line)
		}
	}
	return configerr.Join(problems)
}

// lineOf finds the line of key, or of its closest parent that is in the file.
func lineOf(lines map[string]int, key string) int {
	for key != "" {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}
