// Package inbound decides who may use dbaas-proxy's listener. Whoever reaches the listener acts
// with the full power of the IBM API key, so a Guard wraps the proxy handler and rejects, in
// this order: source addresses outside allow_cidrs, Host headers the proxy does not answer to
// (DNS rebinding), requests from web pages (CrossSite), unauthenticated callers when inbound
// authentication is configured (client certificates or bearer tokens), ambiguous paths, denied
// methods and paths, clients over their rate, oversized bodies and requests beyond the
// concurrency cap. Every rejection is one JSON error ({"code", "message"}) with a message a
// person can act on. Pages whose origin is in allowed_origins get CORS (never credentials);
// their preflights are answered by the Guard before authentication, since browsers send them
// without credentials.
//
// On a loopback address or a Unix socket (the default) nothing needs configuring. On any other
// address (gateway mode) inbound authentication is required unless
// allow_unauthenticated_remote says otherwise, and without allowed_hosts any Host is accepted:
// DNS rebinding needs a browser that carries the credential, and browsers cannot hold bearer
// tokens. Inbound authentication, once configured, is enforced in every mode.
//
// Paths are judged in the form the proxy forwards them (netrule.EscapedPath). Package inbound
// may import internal/jsonerr, internal/files and internal/netrule; never proxy,
// internal/admin, tokensource or cmd. A Guard is safe for concurrent use.
package inbound
