package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// requestIDHeader carries the request id: kept from the client when it sent a sane one,
// generated otherwise, forwarded upstream and returned to the client.
const requestIDHeader = "X-Request-Id"

// idGenerator makes request ids: a random per-process prefix and a counter, cheap enough for
// every request and unique across restarts.
type idGenerator struct {
	prefix string
	n      atomic.Uint64
}

func newIDGenerator() *idGenerator {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &idGenerator{prefix: hex.EncodeToString(b[:]) + "-"}
}

// fromRequest keeps the client's X-Request-Id when it is short and printable, so that a
// client's own ids show up in the logs and upstream; otherwise it makes one.
func (g *idGenerator) fromRequest(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); id != "" && len(id) <= 128 && printable(id) {
		return id
	}
	var b [64]byte // the 13-byte prefix and at most 20 digits: one allocation, the string
	return string(strconv.AppendUint(append(b[:0], g.prefix...), g.n.Add(1), 10))
}

// printable reports whether s is visible ASCII only: no space, control or UTF-8.
func printable(s string) bool {
	return strings.IndexFunc(s, func(c rune) bool { return c < 0x21 || c > 0x7e }) < 0
}
