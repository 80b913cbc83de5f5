package config

import _ "embed" // for Example

//go:generate cp ../../config.example.yaml config.example.yaml

// Example is config.example.yaml of the repository root (`dbaas-proxy config example`): a copy,
// as go:embed cannot reach the root; after editing the root file run `go generate`.
//
//go:embed config.example.yaml
var Example string
