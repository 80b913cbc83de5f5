// Package netrule holds the request and address rules that several parts of dbaas-proxy must
// apply identically: loopback detection, the Host rule against DNS rebinding, the one escaped
// form of a request path that the inbound policy judges and the proxy forwards, the loosest
// reading of a path that deny rules go by, and how a client-supplied value may appear in a log.
// Each rule has exactly one function here, which the other packages call.
//
// netrule is a leaf: it imports only the standard library and holds no state. Everything in it
// is safe for concurrent use.
package netrule
