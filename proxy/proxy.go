package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// Options configures New. Upstream, Transport and Source are required.
type Options struct {
	// Upstream is the DBaaS Manager's base URL: scheme and host, e.g.
	// https://dbaas900.hyperp-dbaas.cloud.ibm.com:20000. Its path must be empty.
	Upstream *url.URL
	// Transport sends the forwarded requests. It attaches the access token (a
	// *tokensource.Transport over the CA-pinned TLS transport). Its errors reach the error
	// handler, which turns them into JSON errors.
	Transport http.RoundTripper
	// Source gives the user id for the local token endpoint and the /me/ rewrite. It should be
	// the same cached source the Transport uses, so that neither causes an extra exchange.
	Source tokensource.Source
	// CAFile is the path of the CA file, named in the message of a certificate error.
	CAFile string
	// Timeout is the configured upstream timeout, named in the message of a 504.
	Timeout time.Duration
	// Logger receives one access line per request at info level (query strings only at debug)
	// and proxy errors. The zero value logs nothing.
	Logger zerolog.Logger
	// Observe, if set, is called once per request when the response is complete. It must not
	// keep the *Record after it returns (copy it), and must be cheap.
	Observe func(*Record)
	// Guard, if set, wraps the routes: inbound access control runs after the access log has
	// started (so rejections are logged) and before any routing.
	Guard func(http.Handler) http.Handler
	// ClientName, if set, names the authenticated client of a request (for the access log).
	ClientName func(context.Context) string
}

// Handler is the proxy's http.Handler. Build it with New.
type Handler struct {
	opts  Options
	rp    *httputil.ReverseProxy
	root  http.Handler
	host  string // the upstream's host:port, named in error messages
	idGen *idGenerator
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
	case opts.Source == nil:
		return nil, errors.New("proxy: a token source is required")
	}
	up := *opts.Upstream
	up.Path, up.RawPath = "", ""
	h := &Handler{opts: opts, host: up.Host, idGen: newIDGenerator()}
	h.rp = &httputil.ReverseProxy{
		Rewrite:      h.rewrite(&up),
		Transport:    timingTransport{next: opts.Transport},
		BufferPool:   bufferPool{},
		ErrorHandler: h.serveError,
		ErrorLog:     ErrorLog(opts.Logger, zerolog.WarnLevel),
	}
	h.root = h.routes()
	if opts.ClientName != nil {
		h.root = h.nameClient(h.root)
	}
	if opts.Guard != nil {
		h.root = opts.Guard(h.root)
	}
	return h, nil
}

// routes builds the router: the local token endpoint, the /me/ rewrite and the catch-all
// under /api/. The router must not clean or decode paths: the upstream sees exactly the path
// the client sent.
func (h *Handler) routes() http.Handler {
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r.MatcherFunc(matchTokenPath).HandlerFunc(h.serveLocalToken)
	r.MatcherFunc(matchMePath).HandlerFunc(h.serveMe)
	r.MatcherFunc(matchAPIPath).HandlerFunc(h.forward)
	r.NotFoundHandler = http.HandlerFunc(serveNotFound)
	return r
}

// nameClient records the client's name, which the guard put into the context of the request
// it let through, for the access log.
func (h *Handler) nameClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec := recordFrom(r.Context()); rec != nil {
			rec.ClientName = h.opts.ClientName(r.Context())
		}
		next.ServeHTTP(w, r)
	})
}

func serveNotFound(w http.ResponseWriter, _ *http.Request) {
	jsonerr.Write(w, http.StatusNotFound,
		"not found: dbaas-proxy forwards only paths under /api/ (for example /api/v3/me/services)")
}

// ServeHTTP serves one request: it starts the access record, runs the guard and the routes,
// and logs and observes the request when its response is complete.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &Record{Time: time.Now(), Method: r.Method, Path: escapedPath(r), Client: r.RemoteAddr}
	rec.ID = h.idGen.fromRequest(r)
	r.Header.Set(requestIDHeader, rec.ID)
	w.Header().Set(requestIDHeader, rec.ID)
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}
	cw := &countingWriter{ResponseWriter: w, rec: rec}
	r = r.WithContext(context.WithValue(r.Context(), recordKey{}, rec))
	defer h.finish(cw, r, rec, body)
	h.root.ServeHTTP(cw, r)
}

// finish completes rec, logs the access line and calls Observe. A panic (the ReverseProxy's
// http.ErrAbortHandler when the upstream broke off a response) is logged as such and re-raised,
// so that net/http aborts the connection and the client sees a broken response, never a
// truncated one that looks complete.
func (h *Handler) finish(cw *countingWriter, r *http.Request, rec *Record, body *countingBody) {
	p := recover()
	rec.Duration = time.Since(rec.Time)
	if body != nil {
		rec.BytesIn = body.n.Load()
	}
	rec.Status = cw.status
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	if p != nil {
		rec.Status = statusAborted
	}
	if rec.Template == "" {
		rec.Template = Template(rec.Path)
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

// forward sends r upstream through the ReverseProxy.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request) {
	h.rp.ServeHTTP(w, r)
}

// rewrite returns the ReverseProxy's Rewrite function: the outgoing request goes to the
// upstream with the client's escaped path and query unchanged, the upstream's Host, and none of
// the client's credentials. X-Forwarded-* headers are not added: the DBaaS Manager has no use
// for the address of a proxy on the user's own machine.
func (h *Handler) rewrite(up *url.URL) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		out := pr.Out
		out.URL.Scheme = up.Scheme
		out.URL.Host = up.Host
		// ReverseProxy re-encodes a query it cannot parse (";", a bad escape): sorted, or
		// dropped. The proxy decides nothing on the query, so it goes byte for byte.
		out.URL.RawQuery = pr.In.URL.RawQuery
		if pr.In.URL.RawPath != "" {
			out.URL.RawPath = escapedPath(pr.In) // kept as sent; see escapedPath
		}
		out.Host = ""
		// The token transport strips them too; stripping here keeps client credentials in
		// whatever Transport the proxy is given.
		tokensource.StripCredentials(out.Header)
	}
}

// escapedPath is the request's path in the one form the inbound policy judges and the proxy
// forwards and logs: netrule.EscapedPath.
func escapedPath(r *http.Request) string { return netrule.EscapedPath(r.URL) }

// recordKey is the context key of the request's *Record.
type recordKey struct{}

// recordFrom returns the request's record, or nil outside the handler.
func recordFrom(ctx context.Context) *Record {
	rec, _ := ctx.Value(recordKey{}).(*Record)
	return rec
}

// MarkReplayed records that r was sent upstream again after the token was refreshed. It is
// meant as (part of) tokensource.Transport.OnReplay; outside the proxy handler it does nothing.
func MarkReplayed(r *http.Request) {
	if rec := recordFrom(r.Context()); rec != nil {
		rec.Replayed = true
	}
}

// timingTransport measures the time to the upstream's response headers.
type timingTransport struct{ next http.RoundTripper }

func (t timingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if rec := recordFrom(req.Context()); rec != nil {
		rec.UpstreamDuration = time.Since(start)
	}
	return resp, err
}

// bufferPool is the ReverseProxy's pool of copy buffers, so that streaming a response does
// not allocate a new 32 KiB buffer per request.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
