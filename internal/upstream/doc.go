// Package upstream owns the connection to the DBaaS Manager: the CA pool of upstream.ca_file
// (the only trust anchor), optional SPKI pins, the CONNECT proxy of upstream.proxy_url, and the
// pooled, bounded Transport, which Reload rebuilds without dropping requests in flight.
//
// # Retries
//
// A request that may have reached the upstream is never sent twice, unless it is a replay after
// 401/403 of a body the proxy kept whole (tokensource.Transport). Otherwise only:
//
//   - a dial that fails at once (refused, unreachable) is dialed again for up to 2 s;
//   - net/http's rule: on a kept-alive connection the upstream closed, a request of which nothing
//     was written is resent when its body can be, and one that got no answer only when net/http
//     holds it idempotent (GET, HEAD, OPTIONS). RoundTrip hides (X-)Idempotency-Key headers from
//     that rule: the DBaaS Manager is not known to honour them;
//   - HTTP/2: a stream the upstream refused (REFUSED_STREAM, GOAWAY) is resent; one cut by a
//     lost connection is not, even a GET (502).
//
// This package may not import proxy/, tokensource/ or cmd/: they build on it, not the other way.
package upstream
