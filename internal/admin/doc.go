// Package admin serves dbaas-proxy's second listener (admin.listen): /healthz, /readyz,
// /metrics, a status page (/) and /status.json, POST /token/refresh and POST /quitquitquit.
//
// It never forwards to the DBaaS Manager and never shows an access token or an API key (only a
// token's fingerprint, expiry and refresh state). A Host that is not loopback (or in
// Options.AllowedHosts) is refused, which defeats DNS rebinding. Off loopback, the page,
// /status.json and the POSTs need a bearer token of Options.Clients; probes and metrics stay open.
//
// Package admin may import proxy (for Record), tokensource (for Status, the one token-state
// type), internal/cause, internal/inbound, internal/jsonerr and internal/netrule; never cmd
// or internal/server.
package admin
