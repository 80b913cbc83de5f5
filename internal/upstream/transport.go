package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The defaults a zero Options field means; the config's defaults are the same numbers.
const (
	// DefaultMaxConns is the default of upstream.max_conns.
	DefaultMaxConns = 256
	// DefaultIdleTimeout is the default of upstream.idle_timeout: below the 60 s after which
	// load balancers commonly close an idle connection, so that the proxy drops it first.
	DefaultIdleTimeout = 45 * time.Second
	// DefaultRetryWindow is how long a request that never reached the upstream is retried.
	DefaultRetryWindow = 2 * time.Second

	// bufferSize is the read and the write buffer of each upstream connection (it was 32 KiB
	// each). Measured on go1.26 linux/amd64, a shared 2-core machine, 256 pooled connections,
	// heap per connection with the test server's share (the same for every size) and a 256 MiB
	// download copied in 32 KiB reads as ReverseProxy does (BenchmarkIdleConns,
	// BenchmarkDownload in memory_test.go, 3 runs each):
	//
	//	buffers   heap/conn   download MB/s
	//	 4 KiB    36 KiB      603-1046
	//	 8 KiB    44 KiB      943-986
	//	16 KiB    60 KiB      866-987
	//	32 KiB    92 KiB      699-1115
	//
	// The download does not depend on the size (bufio hands reads larger than its buffer
	// straight to the TLS connection, whose records are up to 16 KiB), the memory does: 8 KiB
	// saves 48 KiB per connection against 32 KiB, 12 MiB at the 256 connections of
	// max_conns, and keeps request heads and small bodies to one write.
	bufferSize = 8 << 10

	sessionCacheSize = 64
)

// Options configure a Transport. The zero value of each field means the documented default.
type Options struct {
	// CAPool holds the only CAs trusted for the upstream (ReadCA). It is required.
	CAPool *x509.CertPool
	// ServerName is the name checked in the upstream's certificate; empty means the URL's host.
	ServerName string
	// HTTP2 offers HTTP/2 by ALPN; false means HTTP/1.1 only.
	HTTP2 bool
	// Timeout bounds the wait for the response headers; zero means no bound.
	Timeout time.Duration
	// MaxConns caps the HTTP/1.1 connections to the upstream, those being dialed included;
	// requests beyond it wait for one. With HTTP/2 it caps the dials in progress only: when
	// every stream of a connection is busy, net/http stops counting it and dials another
	// (TestMaxConns saw 16 connections for 4); http.HTTP2Config.StrictMaxConcurrentRequests,
	// which should prevent that, stalls requests forever in the same test (golang/go#70809,
	// open), so it is not used. Zero means DefaultMaxConns; negative is an error.
	MaxConns int
	// MaxIdleConns caps the idle connections kept for reuse. Zero means MaxConns.
	MaxIdleConns int
	// IdleTimeout drops a connection idle that long. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Pins, when not empty, require the verified chain to hold a certificate whose SPKI pin
	// (Pin) is one of them; each must pass ValidatePin. Empty means no pinning.
	Pins []string
	// RetryWindow bounds the retries of a request that never reached the upstream. Zero means
	// DefaultRetryWindow; negative means no such retries.
	RetryWindow time.Duration

	bufSize int // the connection buffers; zero: bufferSize (benchmarks vary it)
}

// withDefaults returns o with its zero fields set to their defaults, or an error naming the
// config key of a bad field.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.CAPool == nil {
		errs = append(errs, errors.New("upstream: no CA pool (upstream.ca_file)"))
	}
	if o.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("upstream.max_conns: %d is negative (0 means %d)", o.MaxConns, DefaultMaxConns))
	}
	if o.MaxIdleConns < 0 {
		errs = append(errs, fmt.Errorf("upstream.max_idle_conns: %d is negative (0 means upstream.max_conns)", o.MaxIdleConns))
	}
	if o.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("upstream.idle_timeout: %s is negative (0 means %s)", o.IdleTimeout, DefaultIdleTimeout))
	}
	for _, p := range o.Pins {
		if err := ValidatePin(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxIdleConns == 0 || o.MaxIdleConns > o.MaxConns {
		o.MaxIdleConns = o.MaxConns
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.bufSize == 0 {
		o.bufSize = bufferSize
	}
	if o.RetryWindow == 0 {
		o.RetryWindow = DefaultRetryWindow
	}
	o.Pins = append([]string(nil), o.Pins...)
	return o, nil
}

// Transport is the pooled, CA-pinned transport to the DBaaS Manager. It is safe for
// concurrent use; Swap may run while requests are in flight.
type Transport struct {
	mu  sync.Mutex // serialises Swap and Close
	cur atomic.Pointer[generation]
}

var _ http.RoundTripper = (*Transport)(nil)

// generation is one configuration's transport and the session cache it uses.
type generation struct {
	opts  Options
	cache tls.ClientSessionCache
	http  *http.Transport
}

// New returns a Transport for opts, or an error naming the config key of a bad option.
func New(opts Options) (*Transport, error) {
	g, err := newGeneration(opts, nil)
	if err != nil {
		return nil, err
	}
	t := &Transport{}
	t.cur.Store(g)
	return t, nil
}

// Swap installs a transport built from opts (a reloaded CA file, new pins); requests in flight
// finish on the old one, whose idle connections are closed. The TLS session cache is kept when
// the CA pool is unchanged and dropped when it changed, because a resumed session skips the
// verification of the chain against the new pool (pins are checked on resumption too). On error
// the old transport stays. Connections of the old transport busy at the swap go back to its
// pool when their request ends and close after IdleTimeout; until then they count against
// neither transport's MaxConns.
func (t *Transport) Swap(opts Options) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur.Load()
	var cache tls.ClientSessionCache
	if opts.CAPool != nil && opts.CAPool.Equal(old.opts.CAPool) {
		cache = old.cache
	}
	g, err := newGeneration(opts, cache)
	if err != nil {
		return err
	}
	t.cur.Store(g)
	old.http.CloseIdleConnections()
	return nil
}

// Reload is Swap with the current options and a new CA pool and pins. With the same pool and
// pins it does nothing: reloads must not multiply the pool (each transport has its MaxConns).
func (t *Transport) Reload(pool *x509.CertPool, pins []string) error {
	opts := t.cur.Load().opts
	if pool.Equal(opts.CAPool) && slices.Equal(pins, opts.Pins) {
		return nil
	}
	opts.CAPool, opts.Pins = pool, pins
	return t.Swap(opts)
}

// Options returns the options in use, defaults filled in.
func (t *Transport) Options() Options { return t.cur.Load().opts }

// CloseIdleConnections closes the idle connections of the current transport.
func (t *Transport) CloseIdleConnections() { t.cur.Load().http.CloseIdleConnections() }

// newGeneration builds the http.Transport for opts, with cache as its session cache (nil: a
// new one).
func newGeneration(opts Options, cache tls.ClientSessionCache) (*generation, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if cache == nil {
		cache = tls.NewLRUClientSessionCache(sessionCacheSize)
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil, // the upstream is reached directly: no HTTPS_PROXY surprise
		DialContext:           countingDial(d.DialContext),
		TLSClientConfig:       tlsConfig(opts, cache),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       opts.IdleTimeout,
		MaxConnsPerHost:       opts.MaxConns,
		MaxIdleConns:          opts.MaxIdleConns,
		MaxIdleConnsPerHost:   opts.MaxIdleConns,
		DisableCompression:    true, // bytes pass unchanged; compression is the client's and the upstream's
		ForceAttemptHTTP2:     opts.HTTP2,
		WriteBufferSize:       opts.bufSize,
		ReadBufferSize:        opts.bufSize,
	}
	if !opts.HTTP2 {
		// A non-nil empty map disables HTTP/2 even if the server offers it.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &generation{opts: opts, cache: cache, http: tr}, nil
}

// tlsConfig is the TLS configuration for the upstream: only the CA pool is trusted, TLS 1.2 at
// least, ServerName (if set) is the name checked, and the pins (if any) are enforced.
func tlsConfig(opts Options, cache tls.ClientSessionCache) *tls.Config {
	c := &tls.Config{
		RootCAs:            opts.CAPool,
		MinVersion:         tls.VersionTLS12,
		ServerName:         opts.ServerName,
		ClientSessionCache: cache,
		VerifyConnection:   verifyPins(opts.Pins),
	}
	if opts.HTTP2 {
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	return c
}
