// Package netrule holds the request and address rules that several parts of dbaas-proxy must
// apply identically: whether a listen address or a host name is loopback (IsLoopbackListen,
// IsLoopbackHost), which Host header values a listener answers (HostRule), and the one escaped
// form of a request path that the inbound policy judges and the proxy forwards (EscapedPath),
// the loosest reading of a path segment that deny rules and token look-alikes go by (Stem),
// and how a client-supplied value may appear in a log line (LogValue).
// Each rule has exactly one function here; packages proxy, internal/inbound, internal/admin and
// cmd/dbaas-proxy call it rather than keeping a copy.
//
// netrule is a leaf: it imports only the standard library, never another package of this
// module, and holds no state. Everything in it is safe for concurrent use.
package netrule
