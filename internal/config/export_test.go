package config

import "github.com/dbaas-proxy/dbaas-proxy/internal/configerr"

// Load resolves the configuration file at path alone (no environment, no flags).
func Load(path string) (*Config, error) { return Resolve(Sources{File: path}) }

// Decode decodes data strictly over the defaults, node by node: an unknown key, a value of
// the wrong type or a YAML syntax error is an *Error naming file, line and key, and every such
// problem is reported, not only the first. Relative paths (keys named file or *_file) are
// resolved against the folder of file. It returns the line of every key found.
func Decode(file string, data []byte) (*Config, map[string]int, error) {
	cfg, d, err := decode(file, data)
	if err != nil {
		return nil, nil, err
	}
	if len(d.errs) > 0 {
		return nil, nil, configerr.Join(d.errs)
	}
	lines := make(map[string]int, len(d.origins))
	for k, o := range d.origins {
		lines[k] = o.line
	}
	return cfg, lines, nil
}
