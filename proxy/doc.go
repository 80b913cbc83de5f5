// Package proxy is dbaas-proxy's HTTP handler: it forwards every request under /api/ to the
// DBaaS Manager with httputil.ReverseProxy, byte for byte but for the credentials it owns, and
// answers a few requests itself:
//
//   - GET /api/v{N}/auth/token, the first step of the documented two-step flow, is answered
//     locally with a placeholder token and the real user id, so legacy tools keep working;
//   - /api/v{N}/me/... is rewritten to /api/v{N}/<user_id>/..., so scripts need not know the id;
//   - anything outside /api/ gets a JSON 404 and is never forwarded.
//
// The access token itself is attached by the http.RoundTripper given in Options (see package
// tokensource); the proxy only strips every credential a client sent. Every error the proxy
// produces is one JSON body, {"code": <status>, "message": "..."}, with a fixed message a person
// can act on: never a Go error string, never a secret.
//
// A Handler is safe for concurrent use; it holds no per-request state outside the request.
package proxy
