package proxy

import (
	"crypto/rand"
	"net/http"
	"strings"
)

// requestIDHeader carries the request id, forwarded upstream and returned to the client.
const requestIDHeader = "X-Request-Id"

// requestID keeps the client's X-Request-Id when short and printable, else makes a random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); id != "" && len(id) <= 128 && printable(id) {
		return id
	}
	return rand.Text()
}

// printable reports whether s is visible ASCII only: no space, control or UTF-8.
func printable(s string) bool {
	return strings.IndexFunc(s, func(c rune) bool { return c < 0x21 || c > 0x7e }) < 0
}
