package config

// Load is Resolve of the file at path alone.
func Load(path string) (*Config, error) { return Resolve(Sources{File: path}) }
