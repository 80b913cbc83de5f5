// Package netrule holds the request and address rules that several parts of dbaas-proxy must
// apply identically (loopback, the Host rule, the escaped and the loose path, log values), each
// as one function the other packages call. It is a stateless leaf: it imports only the standard
// library, and everything in it is safe for concurrent use.
package netrule
