package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// pruneEvery is how many issued tokens pass between sweeps of expired and revoked ones.
const pruneEvery = 1024

// authority holds the API keys and the tokens issued for them.
type authority struct {
	signer *ecdsa.PrivateKey
	kid    string
	omit   bool // issue tokens without "exp"

	mu       sync.RWMutex
	keys     map[string]string // api key -> account id
	tokens   map[string]grant  // access token -> what it grants
	gen      uint64            // bumped by RevokeAll
	lifetime time.Duration
	issued   int
	crTokens []string       // compute-resource tokens the cr-token grant accepts
	profile  trustedProfile // the one trusted profile of the cr-token grant
	noBSS    bool           // see SetOmitAccountClaim
}

// trustedProfile is the IAM trusted profile the cr-token, assume and VPC grants log in to.
type trustedProfile struct{ id, name, account string }

// crn is the profile's CRN, in IAM's form.
func (p trustedProfile) crn() string {
	return "crn:v1:bluemix:public:iam-identity::a/" + p.account + "::profile:" + p.id
}

// grantKind is how a token was obtained: it sets the grant_type and subject claims.
type grantKind int

const (
	grantAPIKey  grantKind = iota // a service id's API key, via /auth/token or IAM
	grantCRToken                  // a trusted profile (CR token, assume grant or VPC metadata), via IAM
)

// issued is a new token and its times, in seconds since the epoch.
type issued struct {
	token    string
	iat, exp int64
}

// grant is what the server remembers of an issued token.
type grant struct {
	account string
	expires time.Time
	gen     uint64
}

// claims is the JWT payload, in the order IBM's IAM writes it.
type claims struct {
	IAMID      string       `json:"iam_id"`
	ID         string       `json:"id"`
	RealmID    string       `json:"realmid"`
	JTI        string       `json:"jti"`
	Identifier string       `json:"identifier"`
	Sub        string       `json:"sub"`
	SubType    string       `json:"sub_type"`
	Account    accountClaim `json:"account"`
	IAT        int64        `json:"iat"`
	Exp        *int64       `json:"exp,omitempty"`
	Iss        string       `json:"iss"`
	GrantType  string       `json:"grant_type"`
	Scope      string       `json:"scope"`
	ClientID   string       `json:"client_id"`
	ACR        int          `json:"acr"`
	AMR        []string     `json:"amr"`
}

// accountClaim is the "account" claim.
type accountClaim struct {
	Valid bool   `json:"valid"`
	BSS   string `json:"bss"`
}

func newAuthority(lifetime time.Duration, omitExp bool) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("emulator: generate signing key: %w", err)
	}
	return &authority{
		signer:   key,
		kid:      "emulator-" + time.Now().UTC().Format("20060102") + "-" + randomHex(4),
		omit:     omitExp,
		keys:     make(map[string]string),
		tokens:   make(map[string]grant),
		lifetime: lifetime,
	}, nil
}

// accountOf returns the account of an API key.
func (a *authority) accountOf(key string) (string, bool) {
	a.mu.RLock()
	id, ok := a.keys[key]
	a.mu.RUnlock()
	return id, ok
}

// check returns the account of a valid token: known, not expired at now, not revoked.
func (a *authority) check(token string, now time.Time) (string, bool) {
	a.mu.RLock()
	g, ok := a.tokens[token]
	gen := a.gen
	a.mu.RUnlock()
	if !ok || g.gen != gen || !now.Before(g.expires) {
		return "", false
	}
	return g.account, true
}

// issue makes a new token for the account, valid from now for the current lifetime.
func (a *authority) issue(accountID string, now time.Time, kind grantKind) (issued, error) {
	a.mu.RLock()
	life, gen := a.lifetime, a.gen
	a.mu.RUnlock()
	tok, err := a.sign(accountID, now, life, kind)
	if err != nil {
		return issued{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.issued++; a.issued%pruneEvery == 0 {
		a.pruneLocked(now)
	}
	a.tokens[tok.token] = grant{account: accountID, expires: now.Add(life), gen: gen}
	return tok, nil
}

// pruneLocked forgets tokens that can no longer pass check.
func (a *authority) pruneLocked(now time.Time) {
	for t, g := range a.tokens {
		if g.gen != a.gen || !now.Before(g.expires) {
			delete(a.tokens, t)
		}
	}
}

// sign builds the JWT. exp - iat is the lifetime in whole seconds (at least 1); since iat is
// truncated to the second, the exp a client reads is never later than the server-side expiry.
func (a *authority) sign(accountID string, now time.Time, life time.Duration, kind grantKind) (issued, error) {
	iat := now.Unix()
	secs := int64(life / time.Second)
	if secs < 1 {
		secs = 1
	}
	exp := iat + secs
	ident, subType, grantType := uuidFrom(accountID, "service-id"), "ServiceId", grantTypeAPIKey
	iamID := "iam-ServiceId-" + ident
	if kind == grantCRToken {
		a.mu.RLock()
		iamID = a.profile.id
		a.mu.RUnlock()
		ident, subType, grantType = iamID, "Profile", grantTypeCRToken
	}
	c := claims{
		IAMID: iamID, ID: iamID, RealmID: "iam", JTI: randomHex(16),
		Identifier: ident, Sub: iamID, SubType: subType,
		Account: accountClaim{Valid: true, BSS: accountID},
		IAT:     iat, Exp: &exp, Iss: "https://iam.cloud.ibm.com/identity",
		GrantType: grantType, Scope: "ibm openid",
		ClientID: "default", ACR: 1, AMR: []string{"pwd"},
	}
	if a.omit {
		c.Exp = nil
	}
	a.mu.RLock()
	if a.noBSS {
		c.Account = accountClaim{}
	}
	a.mu.RUnlock()
	payload, err := json.Marshal(c)
	if err != nil {
		return issued{}, fmt.Errorf("emulator: encode token claims: %w", err)
	}
	header := `{"alg":"RS256","typ":"JWT","kid":"` + a.kid + `"}`
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, a.signer, sum[:])
	if err != nil {
		return issued{}, fmt.Errorf("emulator: sign token: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return issued{token: signed + "." + enc.EncodeToString(sig), iat: iat, exp: exp}, nil
}

// AddAPIKey makes key valid for the account userID (a new account or an existing one).
func (s *Server) AddAPIKey(key, userID string) {
	s.auth.mu.Lock()
	s.auth.keys[key] = userID
	s.auth.mu.Unlock()
}

// RemoveAPIKey makes key unknown: from now on the token exchange answers WrongKeyStatus for it.
// Tokens already issued for it stay valid.
func (s *Server) RemoveAPIKey(key string) {
	s.auth.mu.Lock()
	delete(s.auth.keys, key)
	s.auth.mu.Unlock()
}

// RevokeAll rejects every token issued so far; tokens issued afterwards are valid.
func (s *Server) RevokeAll() {
	s.auth.mu.Lock()
	s.auth.gen++
	s.auth.pruneLocked(s.now())
	s.auth.mu.Unlock()
}

// SetTokenLifetime sets the lifetime of tokens issued from now on; d <= 0 means 3600 s.
func (s *Server) SetTokenLifetime(d time.Duration) {
	if d <= 0 {
		d = defaultLifetime
	}
	s.auth.mu.Lock()
	s.auth.lifetime = d
	s.auth.mu.Unlock()
}

// IssueToken returns a fresh access token of the account UserID, as a user's CLI login
// holds one (a token command prints it).
func (s *Server) IssueToken() string {
	tok, err := s.auth.issue(s.userID, s.now(), grantAPIKey)
	if err != nil {
		panic(err) // signing with a generated P-256 key does not fail
	}
	return tok.token
}

// APIKey returns the API key generated at Start.
func (s *Server) APIKey() string { return s.apiKey }

// UserID returns the account id of APIKey: 32 lower-case hex digits.
func (s *Server) UserID() string { return s.userID }

// newAPIKey returns 44 URL-safe characters, like an IBM Cloud API key.
func newAPIKey() string {
	b := make([]byte, 33)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomHex returns n random bytes as 2n lower-case hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
