// Package proxy is dbaas-proxy's HTTP handler: it forwards every request under /api/ to the
// DBaaS Manager with httputil.ReverseProxy, byte for byte but for the credentials it owns, and
// answers a few requests itself, never forwarding them:
//
//   - GET /api/v{N}/auth/token (legacy tools): a placeholder token and the real user id;
//   - /api/v{N}/me/... is rewritten to /api/v{N}/<user_id>/...;
//   - paths outside /api/ get a JSON 404, token-endpoint look-alikes a JSON 400, methods the
//     API does not use a JSON 405.
//
// Credential query parameters are removed first, so they are neither forwarded nor logged. The
// token is attached by Options.Transport. Every error is one JSON body, {"code": <status>,
// "message": "..."}: never a Go error string, never a secret. A Handler is safe for concurrent use.
//
// Package proxy may import tokensource, internal/jsonerr, internal/netrule and internal/upstream
// (for its error types); it never imports internal/inbound, internal/admin or cmd: the inbound
// guard reaches it as Options.Guard.
package proxy
