package inbound

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client is a compiled Client; nil stands for a caller with default rights.
type client struct {
	name     string
	identity string // Client.Identity
	readOnly bool
	allow    []*regexp.Regexp
	bucket   *bucket // nil: no rate limit
}

type authenticator struct {
	hashes  [][32]byte // token hashes, in the order of tokenOf
	tokenOf []*client  // the client of each hash
	byCN    map[string]*client
	anyCN   bool // no client has cert_cn: any verified certificate passes, named by its CN
}

type ctxKey struct{}

// caller is the authenticated client in a request's context.
type caller struct{ name, identity string }

// ClientName returns the name of the client authenticated for ctx's request: its Client.Name,
// or the certificate CN when no client has cert_cn; "" when not authenticated.
func ClientName(ctx context.Context) string {
	c, _ := ctx.Value(ctxKey{}).(caller)
	return c.name
}

// ClientIdentity returns the Client.Identity of ctx's authenticated client, or "".
func ClientIdentity(ctx context.Context) string {
	c, _ := ctx.Value(ctxKey{}).(caller)
	return c.identity
}

// HashToken returns the lower-case hex SHA-256 of token, the form Client.TokenSHA256 takes.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// newAuthenticator compiles cfg.Clients; nil when cfg configures no inbound authentication.
func newAuthenticator(cfg Config) *authenticator {
	if !cfg.authConfigured() {
		return nil
	}
	a := &authenticator{byCN: map[string]*client{}, anyCN: true}
	for _, cl := range cfg.Clients {
		c := &client{name: cl.Name, identity: cl.Identity, readOnly: cl.ReadOnly, allow: mustCompile(cl.AllowPaths),
			bucket: newBucket(cl.RatePerSecond, cl.Burst)}
		a.addToken(cl.TokenSHA256, c)
		if cl.CertCN != "" {
			a.byCN[cl.CertCN] = c
			a.anyCN = false
		}
	}
	return a
}

// addToken adds the token hash of c, 64 hex digits (checked by Validate); "" adds nothing.
func (a *authenticator) addToken(hash string, c *client) {
	var h [32]byte
	if _, err := hex.Decode(h[:], []byte(hash)); err == nil && len(hash) == 64 {
		a.hashes = append(a.hashes, h)
		a.tokenOf = append(a.tokenOf, c)
	}
}

// authenticate returns r's client (nil: default rights), its name and whether its credential is
// valid: a sent bearer token decides, else a verified certificate; missing and wrong look alike.
func (a *authenticator) authenticate(r *http.Request) (*client, string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) > 1 {
		return nil, "", false
	}
	if len(vals) == 1 && len(vals[0]) > 7 && strings.EqualFold(vals[0][:7], "bearer ") {
		return a.byToken(strings.TrimLeft(vals[0][7:], " "))
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, "", false
	}
	cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
	if a.anyCN {
		return nil, cn, cn != ""
	}
	c, ok := a.byCN[cn]
	if !ok {
		return nil, "", false
	}
	return c, c.name, true
}

// byToken compares the token's hash with every client's in constant time, never stopping early.
func (a *authenticator) byToken(token string) (*client, string, bool) {
	if token == "" {
		return nil, "", false
	}
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range a.hashes {
		eq := subtle.ConstantTimeCompare(sum[:], a.hashes[i][:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return nil, "", false
	}
	c := a.tokenOf[match]
	return c, c.name, true
}

// Bearer checks "Authorization: Bearer <token>" against the token_sha256 of clients, for other
// listeners (admin.clients); safe for concurrent use. A nil *Bearer refuses every request.
type Bearer struct{ a atomic.Pointer[authenticator] }

// NewBearer compiles the token hashes of clients (checked with ValidateTokenClients).
func NewBearer(clients []Client) *Bearer {
	b := &Bearer{}
	b.Set(clients)
	return b
}

// Set replaces the clients (on SIGHUP) from the next request on, kept-alive connections too.
func (b *Bearer) Set(clients []Client) {
	a := &authenticator{}
	for _, cl := range clients {
		a.addToken(cl.TokenSHA256, &client{name: cl.Name})
	}
	b.a.Store(a)
}

// Empty reports whether no client has a token, so that Check refuses every request.
func (b *Bearer) Empty() bool { return b == nil || len(b.a.Load().hashes) == 0 }

// Check returns the name of the client whose token r carries, and whether there is one;
// missing and wrong tokens are not told apart.
func (b *Bearer) Check(r *http.Request) (string, bool) {
	if b == nil {
		return "", false
	}
	_, name, ok := b.a.Load().authenticate(r) // it knows no certificate
	return name, ok
}

// bucket is a token bucket: it holds up to burst tokens, gains rate tokens a second, and each
// request takes one. It is safe for concurrent use.
type bucket struct {
	rate  float64 // tokens a second, > 0
	burst float64 // capacity, >= 1

	mu     sync.Mutex
	tokens float64
	last   time.Time // when tokens was last brought up to date; zero: never
}

// newBucket returns a full bucket, or nil when rate is 0. burst 0 means max(1, ceil(rate)).
func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if burst == 0 {
		b = math.Max(1, math.Ceil(rate))
	}
	return &bucket{rate: rate, burst: b, tokens: b}
}

// take takes a token at now; when none is left, false and the whole seconds (>= 1) to wait.
func (b *bucket) take(now time.Time) (ok bool, retryAfter int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := now.Sub(b.last).Seconds(); d > 0 { // from the zero last: a full bucket
		b.tokens = math.Min(b.burst, b.tokens+d*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := math.Ceil((1 - b.tokens) / b.rate)
	return false, int(math.Min(math.Max(wait, 1), 1<<30))
}
