package emulator

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
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
	Now               func() time.Time // clock; nil means time.Now
	Logger            zerolog.Logger   // zero value logs nothing; tests pass zerolog.Nop()
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	log    zerolog.Logger
	now    func() time.Time
	apiKey string
	userID string
	caPEM  []byte
	ln     net.Listener
	srv    *http.Server
	served chan struct{}

	auth   *authority
	faults faultSet
	rec    recorder
	data   store
	routes []route

	life      sync.RWMutex // guards closed and the Add side of active
	closed    bool
	active    sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start generates a fresh ECDSA P-256 CA and a leaf for 127.0.0.1, ::1 and localhost, an API
// key and its account, listens on opts.Addr and serves until Close.
func Start(opts Options) (*Server, error) {
	opts = withDefaults(opts)
	auth, err := newAuthority(opts.TokenLifetime, opts.OmitExp)
	if err != nil {
		return nil, err
	}
	c, err := newCerts(time.Now()) // the real clock: TLS clients check validity with it
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts: opts, log: opts.Logger, now: opts.Now, apiKey: newAPIKey(), userID: randomHex(16),
		caPEM: c.caPEM, served: make(chan struct{}), auth: auth,
	}
	s.rec.deliveries = make(map[string]int)
	s.data.tenants = make(map[string]*tenant)
	s.routes = routes()
	s.AddAPIKey(s.apiKey, s.userID)
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen on %s: %w", opts.Addr, err)
	}
	s.ln = ln
	s.srv = s.newHTTPServer(c.leaf)
	go s.serve()
	s.log.Info().Str("url", s.URL()).Str("user_id", s.userID).Bool("http2", !opts.DisableHTTP2).
		Msg("emulator: serving")
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Addr == "" {
		o.Addr = defaultAddr
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

func (s *Server) newHTTPServer(leaf tls.Certificate) *http.Server {
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(!s.opts.DisableHTTP2)
	return &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{leaf}},
		Protocols:         protos,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          log.New(debugWriter{s.log}, "", 0),
	}
}

func (s *Server) serve() {
	defer close(s.served)
	if err := s.srv.ServeTLS(s.ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		s.log.Error().Err(err).Msg("emulator: serve")
	}
}

// Close stops listening, closes every connection and waits for the handlers to return.
// Later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.life.Lock()
		s.closed = true
		s.life.Unlock()
		if err := s.srv.Close(); err != nil {
			s.closeErr = fmt.Errorf("emulator: close: %w", err)
		}
		<-s.served
		s.active.Wait()
		s.log.Info().Str("url", s.URL()).Msg("emulator: closed")
	})
	return s.closeErr
}

// URL returns the base URL, "https://127.0.0.1:PORT".
func (s *Server) URL() string { return "https://" + s.Addr() }

// Addr returns the address the server listens on, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CAPEM returns the CA certificate, PEM-encoded: the one certificate a client must trust.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// WriteCAFile writes CAPEM to path.
func (s *Server) WriteCAFile(path string) error {
	if err := os.WriteFile(path, s.caPEM, 0o644); err != nil {
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

// serveHTTP records the request, applies faults, then answers the token exchange or the API.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		jsonerr.Write(w, http.StatusServiceUnavailable, "the emulator is closing")
		return
	}
	defer s.active.Done()
	e := &exchange{s: s, w: w, r: r}
	e.path, e.query = splitURI(r)
	e.split()
	bodyless := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 // HTTP/2 has no NoBody
	seq := s.rec.arrive(r, e.path, e.query, s.now(), bodyless)
	if !bodyless {
		e.body = newMeter(r.Body, &s.rec, seq)
		r.Body = e.body
		defer e.body.done()
	}
	if e.isToken() {
		s.rec.tokenRequests.Add(1)
	} else {
		s.rec.requests.Add(1)
	}
	if f, ok := s.faults.take(e.path); ok && e.applyFault(f) {
		return
	}
	if e.isToken() {
		e.token()
		return
	}
	e.serveAPI()
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
