package config

// Load resolves the configuration file at path alone (no environment, no flags).
func Load(path string) (*Config, error) { return Resolve(Sources{File: path}) }
