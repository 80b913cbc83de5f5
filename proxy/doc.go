// Package proxy is dbaas-proxy's HTTP handler: it forwards every request under /api/ to the
// DBaaS Manager with httputil.ReverseProxy, byte for byte but for the credentials it owns, and
// answers a few requests itself:
//
//   - GET /api/v{N}/auth/token, the first step of the documented two-step flow, is answered
//     locally with a placeholder token and the real user id, so legacy tools keep working;
//   - /api/v{N}/me/... is rewritten to /api/v{N}/<user_id>/..., so scripts need not know the id;
//   - anything outside /api/ gets a JSON 404, and paths that look like the token endpoint
//     without being its exact form get a JSON 400; neither is ever forwarded;
//   - methods the API does not use (TRACE, CONNECT, made-up ones) get a JSON 405.
//
// Before anything else the handler removes credential query parameters (api_key, access_token,
// ...) from the request, so that they are neither forwarded nor logged. It never reads a body
// before deciding to forward it, so answers it makes itself go out at once to a client waiting
// for 100 Continue. A failure reading the client's body is the client's (400, or 408 after
// inbound.body_idle_timeout), never a 502. A response the client stops reading is cut after
// Options.WriteIdleTimeout. TimeUpstream, put under the token transport, makes
// upstream_duration the upstream round trip alone.
//
// The access token is attached, and every credential header of the client stripped, by the
// *tokensource.Transport given in Options. Every error the proxy produces is one JSON body,
// {"code": <status>, "message": "..."}, with a fixed message a person can act on: never a Go
// error string, never a secret.
//
// A Handler is safe for concurrent use; it holds no per-request state outside the request.
//
// Package proxy may import tokensource, internal/jsonerr, internal/netrule and internal/upstream
// (for its error types); it never imports internal/inbound, internal/admin or cmd: the inbound
// guard reaches it as Options.Guard.
package proxy
