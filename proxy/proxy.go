package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// Options configures New. Upstream and Transport are required.
type Options struct {
	// Upstream is the DBaaS Manager's base URL (scheme and host); its path must be empty.
	Upstream *url.URL
	// Transport attaches the access token; its Cache gives the user id of the local token
	// endpoint and the /me/ rewrite, so the two cannot read different token sources.
	Transport *tokensource.Transport
	// CAFile is the path of the CA file, named in the message of a certificate error.
	CAFile string
	// Timeout is the configured upstream timeout, named in the message of a 504. Zero means
	// upstream.DefaultTimeout.
	Timeout time.Duration
	// Logger receives the access lines (query strings only at debug) and proxy errors.
	Logger zerolog.Logger
	// Observe, if set, is called once per request when the response is complete. It must not
	// keep the *Record after it returns (copy it), and must be cheap.
	Observe func(*Record)
	// Guard, if set, wraps the routes: inbound access control runs after the access log has
	// started (so rejections are logged) and before any routing.
	Guard func(http.Handler) http.Handler
	// ClientName, if set, names the authenticated client of a request (for the access log).
	ClientName func(context.Context) string
	// Now is the clock of the access record's times and durations; nil means time.Now.
	Now func() time.Time
	// Route names the route this handler serves, for the access line and Record.Route.
	Route string
	// Generic forwards every path (any API taking the token, not the DBaaS Manager): no local
	// token endpoint, no /me/ rewrite, no 404 outside /api/.
	Generic bool
	// WriteIdleTimeout cuts a response the client reads no byte of for that long. Zero: 30 s.
	WriteIdleTimeout time.Duration
}

// Handler is the proxy's http.Handler. Build it with New.
type Handler struct {
	opts Options
	rp   *httputil.ReverseProxy
	root http.Handler
	host string // the upstream's host:port, named in error messages
}

var _ http.Handler = (*Handler)(nil)

// New returns the proxy handler.
func New(opts Options) (*Handler, error) {
	switch {
	case opts.Upstream == nil || opts.Upstream.Host == "":
		return nil, errors.New("proxy: an upstream URL with a host is required")
	case opts.Upstream.Path != "" && opts.Upstream.Path != "/":
		return nil, fmt.Errorf("proxy: the upstream URL must have no path, got %q", opts.Upstream.Path)
	case opts.Transport == nil:
		return nil, errors.New("proxy: a transport is required")
	case opts.Transport.Cache == nil:
		return nil, errors.New("proxy: the transport needs a token Cache")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Timeout = cmp.Or(max(opts.Timeout, 0), upstream.DefaultTimeout)
	opts.WriteIdleTimeout = cmp.Or(max(opts.WriteIdleTimeout, 0), 30*time.Second)
	up := *opts.Upstream
	up.Path, up.RawPath = "", ""
	h := &Handler{opts: opts, host: up.Host}
	h.rp = &httputil.ReverseProxy{
		Rewrite:      h.rewrite(&up),
		Transport:    opts.Transport,
		BufferPool:   bufferPool{},
		ErrorHandler: h.serveError,
		ErrorLog:     ErrorLog(opts.Logger, zerolog.WarnLevel),
	}
	h.root = h.routes()
	if opts.Guard != nil {
		h.root = opts.Guard(h.root)
	}
	return h, nil
}

// ServeHTTP serves one request through the guard and the routes, then logs and observes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &state{now: h.opts.Now, rec: Record{Time: h.opts.Now(), ID: requestID(r), Method: r.Method,
		Path: netrule.EscapedPath(r.URL), Client: r.RemoteAddr, Route: h.opts.Route}}
	rec := &st.rec
	r.Header.Set(requestIDHeader, rec.ID)
	w.Header().Set(requestIDHeader, rec.ID)
	// Change a copy, never the server's request: from it net/http tells whether an
	// "Expect: 100-continue" body was left unread, and then closes rather than ask for it.
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	if q, changed := stripSecretQuery(r.URL.RawQuery); changed {
		u := *r.URL
		u.RawQuery = q
		r.URL = &u
		r.RequestURI = "" // it held the secret; nothing reads it after this point
	}
	if r.Body != nil && r.Body != http.NoBody {
		st.body = &clientBody{ReadCloser: r.Body, now: h.opts.Now}
		r.Body = st.body
	}
	cw := &st.cw
	cw.ResponseWriter, cw.rec, cw.idle = w, rec, h.opts.WriteIdleTimeout
	cw.rc = http.NewResponseController(w)
	cw.extend()
	defer h.finish(cw, r, st)
	h.root.ServeHTTP(cw, r)
}

// finish completes rec, logs the access line and calls Observe. A panic (http.ErrAbortHandler:
// the upstream broke off a response) is logged and re-raised, so the client sees a broken
// response, never a truncated one that looks complete.
func (h *Handler) finish(cw *countingWriter, r *http.Request, st *state) {
	p := recover()
	rec := &st.rec
	rec.Duration = h.opts.Now().Sub(rec.Time)
	if st.body != nil {
		rec.BytesIn = st.body.n.Load()
	}
	rec.Status = cmp.Or(cw.status, http.StatusOK)
	if p != nil {
		rec.Status = statusAborted
	}
	if rec.Template == "" {
		rec.Template = template(rec.Path)
	}
	h.logAccess(r, rec)
	if h.opts.Observe != nil {
		h.opts.Observe(rec)
	}
	if p != nil {
		panic(p)
	}
}

// statusAborted is recorded (never sent) for a response the proxy had to abort mid-body,
// following nginx's habit of logging 499 for a client that went away.
const statusAborted = 499

// bufferPool lends the ReverseProxy its 32 KiB copy buffers: without it every response
// allocates one, and at load the garbage collector's work shows in the CPU per request.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
