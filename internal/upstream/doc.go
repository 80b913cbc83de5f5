// Package upstream owns the connection to the DBaaS Manager: the CA pool read from
// upstream.ca_file, the TLS configuration (the CA file as the only trust anchor, optional SPKI
// pins, a TLS session cache), and the pooled, bounded HTTP transport with its safe retries.
//
// A Transport is an http.RoundTripper that Swap can rebuild on reload (a new CA file, new pins)
// without dropping requests in flight. It retries a request only when doing so cannot run it
// twice; see Transport.RoundTrip.
//
// This package may not import proxy/, tokensource/ or cmd/: they build on it, not the other way.
package upstream
