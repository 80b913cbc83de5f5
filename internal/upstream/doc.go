// Package upstream owns the connection to the DBaaS Manager: the CA pool read from
// upstream.ca_file, the TLS configuration (the CA file as the only trust anchor, optional SPKI
// pins, a TLS session cache), the optional CONNECT proxy of upstream.proxy_url, and the pooled,
// bounded HTTP transport.
//
// A Transport is an http.RoundTripper that Reload can rebuild on reload (a new CA file, new pins)
// without dropping requests in flight.
//
// # Retries
//
// A request that may have reached the upstream is never sent twice, unless it is a replay
// after 401/403 of a body the proxy kept whole (tokensource.Transport, after a new token).
// Below that, these are the only cases in which anything is sent again:
//
//   - A dial that fails at once (connection refused or unreachable: the upstream restarting)
//     is dialed again with a short backoff for up to 2 s. No byte of any request was sent.
//   - net/http's own rule: on a kept-alive connection the upstream closed, a request of which
//     nothing was written is sent again when its body can be (none, or GetBody), and a
//     request that got no byte of an answer is sent again only when net/http holds it
//     idempotent: GET, HEAD or OPTIONS. net/http also counts a request with an
//     Idempotency-Key or X-Idempotency-Key header as idempotent; the DBaaS Manager is not known
//     to honour them, so RoundTrip sends those headers of other methods under their
//     lower-case names, which HTTP treats as the same header and net/http does not look up.
//   - HTTP/2: a stream the upstream refused (REFUSED_STREAM, or above the last stream id of its
//     GOAWAY) was not processed, by the protocol, and net/http sends it again. A stream cut
//     by a lost connection is not sent again, whatever its method: even a GET then fails
//     (502), where HTTP/1.1 would have resent it.
//
// This package may not import proxy/, tokensource/ or cmd/: they build on it, not the other way.
package upstream
