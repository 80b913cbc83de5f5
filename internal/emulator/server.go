package emulator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
)

const (
	defaultAddr       = "127.0.0.1:0"
	defaultLifetime   = 3600 * time.Second
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	drainLimit        = 1 << 20 // body bytes read before an error answer, so the arrival is complete
)

// Options configures Start. The zero value is a working emulator on 127.0.0.1 with a random port.
type Options struct {
	Addr              string           // listen address; "" means "127.0.0.1:0"
	TokenLifetime     time.Duration    // lifetime of issued tokens (exp - iat); 0 means 3600s; works down to 1s
	OmitExp           bool             // issue tokens whose JWT payload has no "exp" (the token still expires server-side)
	MissingKeyStatus  int              // status for a token request without api_key; 0 means 400
	WrongKeyStatus    int              // status for an unknown api_key; 0 means 401
	BadTokenStatus    int              // status for a missing/unknown/expired/revoked token; 0 means 401
	ForeignUserStatus int              // status when {user_id} in the path is not the token's account; 0 means 403
	DisableHTTP2      bool             // by default the server offers h2 and http/1.1 via ALPN
	IdleClose         time.Duration    // close connections idle this long (see SetIdleClose); 0 = never
	SeparateIAM       bool             // serve IAM on its own listener with its own CA (see IAMURL) instead of on Addr
	IAMAddr           string           // listen address of the separate IAM server; "" means "127.0.0.1:0"
	ProfileID         string           // trusted profile id for the cr-token grant; "" means generated
	ProfileName       string           // trusted profile name for the cr-token grant; "" means "dbaas-proxy"
	Metadata          bool             // serve the VPC instance metadata service on a plain-HTTP loopback port (MetadataURL)
	Now               func() time.Time // clock; nil means time.Now
	Logger            zerolog.Logger   // zero value logs nothing; tests pass zerolog.Nop()
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      zerolog.Logger
	now      func() time.Time
	apiKey   string
	userID   string
	api      *endpoint
	iam      *endpoint        // nil unless Options.SeparateIAM
	metadata *metadataService // nil unless Options.Metadata

	idleClose atomic.Int64 // time.Duration; see SetIdleClose
	auth      *authority
	faults    faultSet
	rec       recorder
	data      store
	routes    []route

	life      sync.RWMutex // guards closed and the Add side of active
	closed    bool
	active    sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start generates a fresh ECDSA P-256 CA and a leaf for 127.0.0.1, ::1 and localhost, an API
// key and its account, a trusted profile and a CR token, listens on opts.Addr (and, with
// SeparateIAM, on opts.IAMAddr with a second CA) and serves until Close.
func Start(opts Options) (*Server, error) {
	opts = withDefaults(opts)
	auth, err := newAuthority(opts.TokenLifetime, opts.OmitExp)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, apiKey: newAPIKey(), userID: randomHex(16), auth: auth}
	s.rec.deliveries = make(map[string]int)
	s.data.tenants = make(map[string]*tenant)
	s.routes = routes()
	s.idleClose.Store(int64(max(opts.IdleClose, 0)))
	s.AddAPIKey(s.apiKey, s.userID)
	auth.profile = trustedProfile{id: opts.ProfileID, name: opts.ProfileName, account: s.userID}
	if auth.profile.id == "" {
		auth.profile.id = "Profile-" + uuidFrom(s.userID, "trusted-profile")
	}
	auth.crTokens = []string{NewCRToken()}
	c, err := newCerts(time.Now()) // the real clock: TLS clients check validity with it
	if err != nil {
		return nil, err
	}
	apiKind := listenerAPIAndIAM
	if opts.SeparateIAM {
		apiKind = listenerAPI
	}
	s.api = newEndpoint(s, "api", opts.Addr, c, s.handler(apiKind))
	if opts.SeparateIAM {
		ic, err := newCerts(time.Now())
		if err != nil {
			return nil, err
		}
		s.iam = newEndpoint(s, "iam", opts.IAMAddr, ic, s.handler(listenerIAM))
	}
	if err := s.api.listen(); err != nil {
		return nil, err
	}
	if s.iam != nil {
		if err := s.iam.listen(); err != nil {
			_ = s.api.stop()
			return nil, err
		}
	}
	if opts.Metadata {
		if err := s.startMetadata(); err != nil {
			_ = s.stopListeners()
			return nil, err
		}
	}
	s.log.Info().Str("url", s.URL()).Str("iam_url", s.IAMURL()).Str("user_id", s.userID).
		Bool("http2", !opts.DisableHTTP2).Msg("emulator: serving")
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Addr == "" {
		o.Addr = defaultAddr
	}
	if o.IAMAddr == "" {
		o.IAMAddr = defaultAddr
	}
	if o.ProfileName == "" {
		o.ProfileName = "dbaas-proxy"
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = defaultLifetime
	}
	for _, d := range []struct {
		v   *int
		def int
	}{
		{&o.MissingKeyStatus, http.StatusBadRequest}, {&o.WrongKeyStatus, http.StatusUnauthorized},
		{&o.BadTokenStatus, http.StatusUnauthorized}, {&o.ForeignUserStatus, http.StatusForbidden},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Close stops listening, closes every connection and waits for the handlers to return.
// Later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.life.Lock()
		s.closed = true
		s.life.Unlock()
		s.closeErr = s.stopListeners()
		s.active.Wait()
		// A ResumeListening that began before closed was set may have listened again.
		if err := s.stopListeners(); s.closeErr == nil {
			s.closeErr = err
		}
		s.log.Info().Str("url", s.URL()).Msg("emulator: closed")
	})
	return s.closeErr
}

// stopListeners stops the DBaaS, the IAM and the metadata listener.
func (s *Server) stopListeners() error {
	err := s.api.stop()
	if s.iam != nil {
		err = errors.Join(err, s.iam.stop())
	}
	if s.metadata != nil {
		_ = s.metadata.srv.Close() // a second Close finds nothing to close
	}
	return err
}

// URL returns the base URL, "https://127.0.0.1:PORT".
func (s *Server) URL() string { return "https://" + s.Addr() }

// Addr returns the address the server listens on, "127.0.0.1:PORT" (also while stopped by
// StopListening).
func (s *Server) Addr() string { return s.api.address() }

// CAPEM returns the CA certificate, PEM-encoded: the one certificate a client must trust.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.api.caPEM...) }

// WriteCAFile writes CAPEM to path.
func (s *Server) WriteCAFile(path string) error { return writeCA(path, s.api.caPEM) }

// IAMURL returns the base URL of the IAM token service; the endpoint is IAMURL() +
// "/identity/token". It is URL() unless Options.SeparateIAM.
func (s *Server) IAMURL() string {
	if s.iam == nil {
		return s.URL()
	}
	return "https://" + s.iam.address()
}

// IAMCAPEM returns the CA certificate a client must trust for IAMURL: CAPEM() unless
// Options.SeparateIAM, then a CA of its own.
func (s *Server) IAMCAPEM() []byte {
	if s.iam == nil {
		return s.CAPEM()
	}
	return append([]byte(nil), s.iam.caPEM...)
}

// WriteIAMCAFile writes IAMCAPEM to path.
func (s *Server) WriteIAMCAFile(path string) error { return writeCA(path, s.IAMCAPEM()) }

func writeCA(path string, pem []byte) error {
	if err := os.WriteFile(path, pem, 0o644); err != nil {
		return fmt.Errorf("emulator: write ca file: %w", err)
	}
	return nil
}

// enter registers a handler unless the server is closing.
func (s *Server) enter() bool {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return false
	}
	s.active.Add(1)
	return true
}

// listenerKind says what a listener serves.
type listenerKind int

const (
	listenerAPIAndIAM listenerKind = iota // the DBaaS API and /identity/token
	listenerAPI                           // the DBaaS API only (IAM has its own listener)
	listenerIAM                           // /identity/token only
)

// handler returns the handler of a listener of kind k.
func (s *Server) handler(k listenerKind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveHTTP(w, r, k) })
}

// serveHTTP records the request, applies faults, then answers the token exchange, IAM or the API.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request, k listenerKind) {
	if !s.enter() {
		jsonerr.Write(w, http.StatusServiceUnavailable, "the emulator is closing")
		return
	}
	defer s.active.Done()
	e := &exchange{s: s, w: w, r: r, kind: k}
	e.path, e.query = splitURI(r)
	e.split()
	bodyless := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 // HTTP/2 has no NoBody
	seq := s.rec.arrive(r, e.path, e.query, s.now(), bodyless)
	if !bodyless {
		e.body = newMeter(r.Body, &s.rec, seq)
		r.Body = e.body
		defer e.body.done()
	}
	switch {
	case e.isToken():
		s.rec.tokenRequests.Add(1)
	case e.isIAM():
		s.rec.iamRequests.Add(1)
	default:
		s.rec.requests.Add(1)
	}
	if f, ok := s.faults.take(e.path); ok && e.applyFault(f) {
		return
	}
	switch {
	case e.isIAM():
		e.iamToken()
	case k == listenerIAM:
		e.iamFail(http.StatusNotFound, iamErrGeneric, "This server only answers POST /identity/token.", "")
	case e.isToken():
		e.token()
	default:
		e.serveAPI()
	}
}

// splitURI returns the escaped path and raw query exactly as they came on the wire.
func splitURI(r *http.Request) (path, query string) {
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") {
		return r.URL.EscapedPath(), r.URL.RawQuery
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i+1:]
	}
	return uri, ""
}

// debugWriter turns net/http's error log lines into debug events.
type debugWriter struct{ l zerolog.Logger }

func (d debugWriter) Write(p []byte) (int, error) {
	d.l.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

var _ io.Writer = debugWriter{}
