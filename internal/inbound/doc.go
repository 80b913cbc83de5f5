// Package inbound decides who may use dbaas-proxy's listener. Whoever reaches the listener acts
// with the full power of the IBM API key, so a Guard wraps the proxy handler and rejects, in
// this order: source addresses outside allow_cidrs, Host headers the proxy does not answer to
// (DNS rebinding), requests from web pages (CrossSite), unauthenticated callers when inbound
// authentication is configured (client certificates or bearer tokens), ambiguous paths, denied
// methods and paths, clients over their rate, oversized bodies and requests beyond the
// concurrency cap. Every rejection is one JSON error ({"code", "message"}) with a message a
// person can act on.
//
// Web pages whose origin is in allowed_origins get CORS: their answers carry
// Access-Control-Allow-Origin (never Access-Control-Allow-Credentials) and their preflights are
// answered by the Guard itself, before authentication, since browsers send preflights without
// credentials.
//
// Two modes follow from the listen address. On a loopback address or a Unix socket (the
// default, 127.0.0.1:20000) nothing needs configuring: only local processes can connect, and
// the Host and browser checks keep web pages out. On any other address (gateway mode) inbound
// authentication is required unless allow_unauthenticated_remote says otherwise; in gateway
// mode with authentication and no allowed_hosts, any Host is accepted, because DNS rebinding
// needs a browser that carries the credential and browsers cannot hold bearer tokens. Inbound
// authentication, once configured, is enforced in every mode, loopback included.
//
// The Guard also cuts request bodies that stall longer than body_idle_timeout (the proxy
// answers 408), and never touches the server's own request, so that net/http answers refusals
// to "Expect: 100-continue" clients at once. Limits holds the connection limits with their
// defaults; Guard.ConfigureServer applies them and the TLS configuration to the listener's
// http.Server. Bearer offers the bearer-token check to other listeners (admin.clients).
//
// Paths are judged in the form the proxy forwards them (netrule.EscapedPath); Host matching and
// loopback detection are netrule's too. Package inbound may import internal/jsonerr and
// internal/netrule; it never imports proxy, internal/admin, tokensource or cmd.
//
// A Guard is safe for concurrent use. New precomputes everything it can; the per-request work is
// a few map lookups, one pass over the path and, for configured regular expressions, the
// matches themselves.
package inbound
