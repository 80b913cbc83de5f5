// Package inbound decides who may use dbaas-proxy's listener, which acts with the full power of
// the IBM API key. A Guard wraps the proxy handler and rejects, in this order: sources outside
// allow_cidrs, Host headers it does not answer (DNS rebinding), requests from web pages
// (CrossSite), unauthenticated callers when inbound authentication is configured, ambiguous
// paths, denied methods and paths, clients over their rate, oversized bodies and requests beyond
// the concurrency cap, each with one JSON error a person can act on. Allowed origins get CORS
// (never credentials); their preflights are answered before authentication, which they lack.
//
// On a non-loopback address (gateway mode) inbound authentication is required unless
// allow_unauthenticated_remote, and without allowed_hosts any Host passes: browsers cannot hold
// bearer tokens, so DNS rebinding gains nothing. Paths are judged as forwarded
// (netrule.EscapedPath). Package inbound may import internal/jsonerr, internal/files and
// internal/netrule; never proxy, internal/admin, tokensource or cmd. A Guard is concurrency-safe.
package inbound
