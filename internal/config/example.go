package config

import _ "embed" // for Example

//go:generate cp ../../config.example.yaml config.example.yaml

// Example is the annotated example configuration, config.example.yaml at the repository root,
// with every key and its default (`dbaas-proxy config example` prints it). go:embed cannot
// reach the root from this package, so this package holds a copy, kept identical by
// TestExampleIsTheRootFile; after editing the root file run `go generate ./internal/config`.
//
//go:embed config.example.yaml
var Example string
