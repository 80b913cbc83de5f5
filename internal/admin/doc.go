// Package admin serves dbaas-proxy's second listener (admin.listen, 127.0.0.1:9090 by default):
// liveness (/healthz), readiness (/readyz), Prometheus metrics (/metrics), a status page for a
// person (/) and the same state for a program (/status.json), a forced token refresh (POST
// /token/refresh) and a graceful shutdown (POST /quitquitquit).
//
// The admin listener never forwards anything to the DBaaS Manager and never shows an access
// token or an API key: the status page shows a token's fingerprint, expiry and refresh state only.
// Requests whose Host header is not a loopback name or address (or one of Options.AllowedHosts)
// are refused, which defeats DNS rebinding from a browser. When the listener is not on a
// loopback address (Options.Listen), the status page, /status.json and the POSTs need a bearer
// token of Options.Clients (admin.clients, checked by inbound.Bearer); probes and metrics stay
// open. Config is the admin: section of the configuration, with Validate.
//
// Package admin may import proxy (for Record), tokensource (for Status, the one token-state
// type), internal/cause, internal/inbound, internal/jsonerr and internal/netrule; never cmd
// or internal/server.
//
// Metrics holds the proxy's Prometheus collectors, Recent keeps the last requests and the
// requests per minute for the status page, and Health the upstream's state per route; all are
// fed from the proxy's Observe hook and are safe for concurrent use.
package admin
