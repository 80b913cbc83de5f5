package inbound

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
)

// client is a compiled Client; nil stands for a caller with default rights.
type client struct {
	name     string
	readOnly bool
	allow    []*regexp.Regexp
	bucket   *bucket // nil: no rate limit
}

// authenticator checks inbound credentials.
type authenticator struct {
	hashes  [][32]byte // token hashes, in the order of tokenOf
	tokenOf []*client  // the client of each hash
	byCN    map[string]*client
	anyCN   bool // no client has cert_cn: any verified certificate passes, named by its CN
}

type ctxKey struct{}

// ClientName returns the name of the client authenticated for the request whose context is
// ctx: its Client.Name, or the certificate CN when no client has cert_cn. It is "" when the
// request was not authenticated (no inbound authentication configured).
func ClientName(ctx context.Context) string {
	name, _ := ctx.Value(ctxKey{}).(string)
	return name
}

// HashToken returns the lower-case hex SHA-256 of token, the form Client.TokenSHA256 takes.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// newAuthenticator compiles the credentials of clients; it returns nil when cfg configures no
// inbound authentication.
func newAuthenticator(cfg Config, clients []*client) *authenticator {
	if !cfg.authConfigured() {
		return nil
	}
	a := &authenticator{byCN: map[string]*client{}, anyCN: true}
	for i, cl := range cfg.Clients {
		a.addToken(cl.TokenSHA256, clients[i])
		if cl.CertCN != "" {
			a.byCN[cl.CertCN] = clients[i]
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

// authenticate returns the caller's client (nil for default rights), its name and whether r
// carries a valid credential. A bearer token, when sent, decides; otherwise a verified client
// certificate does. Missing and wrong credentials are not told apart.
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

// byToken compares the token's hash with every client's in constant time, without stopping at
// a match.
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

// Bearer checks "Authorization: Bearer <token>" against the token_sha256 of a list of clients:
// the same rule and constant-time compare as the Guard's, for other listeners (the admin
// listener's admin.clients). Only Name and TokenSHA256 of each Client are used. Build it with
// NewBearer; it is safe for concurrent use, Set included. A nil *Bearer refuses every request.
type Bearer struct{ a atomic.Pointer[authenticator] }

// NewBearer compiles the token hashes of clients (checked with ValidateTokenClients). With no
// client with a token, Check refuses every request.
func NewBearer(clients []Client) *Bearer {
	b := &Bearer{}
	b.Set(clients)
	return b
}

// Set replaces the clients (on SIGHUP): from the next request on, kept-alive connections
// included, only their tokens pass.
func (b *Bearer) Set(clients []Client) {
	a := &authenticator{byCN: map[string]*client{}}
	for _, cl := range clients {
		a.addToken(cl.TokenSHA256, &client{name: cl.Name})
	}
	b.a.Store(a)
}

// Empty reports whether no client has a token, so that Check refuses every request.
func (b *Bearer) Empty() bool { return b == nil || len(b.a.Load().hashes) == 0 }

// Check returns the name of the client whose token r carries, and whether there is one. More
// than one Authorization header, another scheme or an unknown token is refused; missing and
// wrong tokens are not told apart.
func (b *Bearer) Check(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if b == nil || len(vals) != 1 || len(vals[0]) <= 7 || !strings.EqualFold(vals[0][:7], "bearer ") {
		return "", false
	}
	_, name, ok := b.a.Load().byToken(strings.TrimLeft(vals[0][7:], " "))
	return name, ok
}
