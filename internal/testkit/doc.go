// Package testkit holds test helpers shared by several packages' tests: a throwaway PKI for
// TLS tests, a buffer safe for concurrent writes, a hand-written HTTP/1.1 round trip and a file
// writer, a one-shot GET and a CONNECT proxy. Its
// subpackage headless starts a browser. Production code never imports either.
package testkit
