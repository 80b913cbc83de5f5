package upstream

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The defaults a zero Options field means; the config's defaults are the same numbers.
const (
	// DefaultMaxConns is the default of upstream.max_conns.
	DefaultMaxConns = 256
	// DefaultIdleTimeout (upstream.idle_timeout) is below load balancers' common 60 s idle close.
	DefaultIdleTimeout = 45 * time.Second
	// DefaultTimeout is the default of upstream.timeout.
	DefaultTimeout = 60 * time.Second

	// bufferSize is each upstream connection's read and write buffer: 8 KiB saves 48 KiB per
	// connection against net/http's 32 KiB with no loss in download speed, as bufio hands larger
	// reads straight to TLS (BenchmarkIdleConns, BenchmarkDownload).
	bufferSize = 8 << 10

	sessionCacheSize = 64
)

// Options configure a Transport. The zero value of each field means the documented default.
type Options struct {
	// CAPool holds the only CAs trusted for the upstream (ReadCA). It is required.
	CAPool *x509.CertPool
	// ServerName is the name checked in the upstream's certificate; empty means the URL's host.
	ServerName string
	// HTTP1Only offers HTTP/1.1 alone (upstream.http2: false); else HTTP/2 is offered by ALPN.
	HTTP1Only bool
	// Timeout bounds the wait for a pooled connection (then RoundTrip returns a *PoolError),
	// and then the wait for the response headers. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxConns caps the HTTP/1.1 connections (dialing included); requests beyond it wait. With
	// HTTP/2 it caps dials in progress only (StrictMaxConcurrentRequests stalls requests:
	// golang/go#70809). Zero means DefaultMaxConns; negative is an error.
	MaxConns int
	// MaxIdleConns caps the idle connections kept for reuse. Zero (or less) means MaxConns.
	MaxIdleConns int
	// IdleTimeout drops a connection idle that long. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Pins, if any, require a certificate of the verified chain with one of these pins (Pin).
	Pins []string
	// ProxyURL, when set, is the CONNECT proxy of upstream.proxy_url; its userinfo becomes
	// Proxy-Authorization. HTTPS_PROXY and the like are never read.
	ProxyURL *url.URL
}

// withDefaults fills o's zero fields, or returns an error naming the key of a bad field.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.CAPool == nil {
		errs = append(errs, errors.New("upstream: no CA pool (upstream.ca_file)"))
	}
	if o.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("upstream.max_conns: %d is negative (0 means %d)", o.MaxConns, DefaultMaxConns))
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
	o.MaxConns = cmp.Or(o.MaxConns, DefaultMaxConns)
	if o.MaxIdleConns <= 0 || o.MaxIdleConns > o.MaxConns {
		o.MaxIdleConns = o.MaxConns
	}
	o.IdleTimeout = cmp.Or(o.IdleTimeout, DefaultIdleTimeout)
	o.Timeout = cmp.Or(max(o.Timeout, 0), DefaultTimeout)
	o.Pins = append([]string(nil), o.Pins...)
	return o, nil
}

// Transport is the pooled, CA-pinned transport to the DBaaS Manager, safe for concurrent use.
type Transport struct {
	mu        sync.Mutex // serialises Reload
	cur       atomic.Pointer[generation]
	exhausted atomic.Int64 // when a request last gave up waiting for a connection, Unix ns
}

var _ http.RoundTripper = (*Transport)(nil)

// generation is one configuration's transport.
type generation struct {
	opts Options
	http *http.Transport
}

// New returns a Transport for opts, or an error naming the config key of a bad option.
func New(opts Options) (*Transport, error) {
	g, err := newGeneration(opts)
	if err != nil {
		return nil, err
	}
	t := &Transport{}
	t.cur.Store(g)
	return t, nil
}

// Reload installs a transport with a new CA pool and pins; requests in flight finish on the old
// one, whose idle connections are closed. The new one starts with an empty TLS session cache (a
// resumed session would skip verifying the chain against the new pool). On error the old one
// stays. Old connections busy at the reload count against neither transport's MaxConns.
func (t *Transport) Reload(pool *x509.CertPool, pins []string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur.Load()
	if pool.Equal(old.opts.CAPool) && slices.Equal(pins, old.opts.Pins) {
		return nil // nothing changed: reloads must not multiply the pool (each has its MaxConns)
	}
	opts := old.opts
	opts.CAPool, opts.Pins = pool, pins
	g, err := newGeneration(opts)
	if err != nil {
		return err
	}
	t.cur.Store(g)
	old.http.CloseIdleConnections()
	return nil
}

// CloseIdleConnections closes the idle connections of the current transport.
func (t *Transport) CloseIdleConnections() { t.cur.Load().http.CloseIdleConnections() }

// newGeneration builds the http.Transport for opts.
func newGeneration(opts Options) (*generation, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 nil, // no HTTPS_PROXY surprise: Dialer does upstream.proxy_url's CONNECT
		DialContext:           Dialer(opts.ProxyURL),
		TLSClientConfig:       tlsConfig(opts),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       opts.IdleTimeout,
		MaxConnsPerHost:       opts.MaxConns,
		MaxIdleConns:          opts.MaxIdleConns,
		MaxIdleConnsPerHost:   opts.MaxIdleConns,
		DisableCompression:    true, // bytes pass unchanged; compression is the client's and the upstream's
		ForceAttemptHTTP2:     !opts.HTTP1Only,
		WriteBufferSize:       bufferSize,
		ReadBufferSize:        bufferSize,
	}
	if opts.HTTP1Only {
		// A non-nil empty map disables HTTP/2 even if the server offers it.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &generation{opts: opts, http: tr}, nil
}

// tlsConfig trusts only the CA pool, needs TLS 1.2, checks ServerName and enforces the pins.
func tlsConfig(opts Options) *tls.Config {
	c := &tls.Config{
		RootCAs:            opts.CAPool,
		MinVersion:         tls.VersionTLS12,
		ServerName:         opts.ServerName,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
		VerifyConnection:   verifyPins(opts.Pins),
	}
	if !opts.HTTP1Only {
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	return c
}
