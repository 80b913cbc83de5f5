package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/cause"
	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// serveError is the ReverseProxy's ErrorHandler: it answers err with a status and a fixed
// message, and logs err (tokensource's and upstream's errors never hold a secret).
func (h *Handler) serveError(w http.ResponseWriter, r *http.Request, err error) {
	st := stateFrom(r.Context())
	if st != nil && h.clientFault(w, r, st, err) {
		return
	}
	status, msg := h.classify(r, err)
	if status == statusAborted {
		// The client went away: finish records 499. Abort, not return: a client that only
		// half-closed would get an empty 200 from net/http, which looks like success.
		panic(http.ErrAbortHandler)
	}
	if nt, ok := errors.AsType[*tokensource.NoTokenError](err); ok && status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(nt.RetryAfter()/time.Second))) // whole seconds, at least 1
	}
	ev := h.opts.Logger.Warn()
	if status == http.StatusRequestEntityTooLarge {
		ev = h.opts.Logger.Debug()
	}
	if st != nil {
		ev.Str("request_id", st.rec.ID)
		st.rec.Error, st.rec.Fault = msg, cause.Kind(err)
	}
	ev.Int("status", status).Str("reason", msg).Err(err).Msg("request failed")
	jsonerr.Write(w, status, msg)
}

// clientFault answers a failure reading the client's body and reports whether it did: 408 for
// a stalled body, 400 for a malformed one, nothing for a gone client, each closing the
// connection, logged at info. An over-size body is left to classify (413).
func (h *Handler) clientFault(w http.ResponseWriter, r *http.Request, st *state, err error) bool {
	rerr := st.body.readErr()
	if rerr == nil || is[*http.MaxBytesError](rerr) {
		return false
	}
	st.rec.UpstreamDuration = 0
	status, msg := http.StatusBadRequest, "bad request: the request body could not be read (malformed "+
		"chunked encoding, or the connection ended before the whole body was sent); send the whole body again"
	switch {
	case cause.Kind(rerr) == cause.Timeout: // before the context: net/http cancels it on any read error
		status, msg = http.StatusRequestTimeout, "request timeout: the request body stopped arriving "+
			"for longer than inbound.body_idle_timeout, or arrived slower than inbound.min_body_rate; send the body without pauses"
	case r.Context().Err() != nil:
		status = statusAborted
	}
	h.opts.Logger.Info().Str("request_id", st.rec.ID).Int("status", status).Str("fault", "client").
		Err(rerr).Msg("request failed: the client's body could not be read")
	if status == statusAborted {
		panic(http.ErrAbortHandler) // nobody to answer: see serveError
	}
	w.Header().Set("Connection", "close")
	jsonerr.Write(w, status, msg)
	return true
}

// classify maps an error to the status and message the client gets.
func (h *Handler) classify(r *http.Request, err error) (int, string) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return statusAborted, ""
	}
	if nt, ok := errors.AsType[*tokensource.NoTokenError](err); ok {
		return h.classifyNoToken(r, nt)
	}
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"request body too large: the limit is %d bytes (inbound.max_body_bytes)", mbe.Limit)
	}
	return h.classifyUpstream(err, h.host, "")
}

func (h *Handler) classifyNoToken(r *http.Request, nt *tokensource.NoTokenError) (int, string) {
	const prefix = "no access token: "
	xe, _ := errors.AsType[*tokensource.ExchangeError](nt)
	ue, _ := errors.AsType[*url.Error](nt)
	switch {
	case xe != nil && xe.Rejected():
		return http.StatusServiceUnavailable, prefix + tokensource.Describe(xe) + "; " + cause.Fix[cause.Rejected]
	case xe != nil && xe.Status != 0:
		return http.StatusServiceUnavailable, prefix + tokensource.Describe(xe) +
			"; dbaas-proxy retries with backoff, try again later"
	case errors.Is(nt, context.DeadlineExceeded) && r.Context().Err() != nil:
		return http.StatusGatewayTimeout, prefix +
			"the token endpoint did not answer before the request's deadline; try again later"
	case errors.Is(nt, context.Canceled) && r.Context().Err() != nil:
		return statusAborted, ""
	case xe != nil && errors.Is(xe, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, prefix + tokensource.Describe(xe) + "; try again later"
	case nt.Err != nil && ue == nil:
		// The token endpoint answered nothing usable, or the key could not be read: no network
		// failure; Describe says which without a secret.
		return http.StatusServiceUnavailable, prefix + tokensource.Describe(nt.Err) +
			"; dbaas-proxy retries with backoff, try again later"
	}
	// The exchange failed below HTTP: a 502 or 504 naming the endpoint and host that failed.
	host, name := h.host, "the token endpoint"
	if ue != nil {
		if u, err := url.Parse(ue.URL); err == nil && u.Host != "" {
			host = u.Host
		}
	}
	if xe != nil && xe.Endpoint != "" && !strings.HasPrefix(xe.Endpoint, "the DBaaS token endpoint") {
		name = xe.Endpoint
	}
	status, msg := h.classifyUpstream(nt.Err, host, name)
	return status, prefix + msg
}

// classifyUpstream maps a transport error talking to host: the upstream, or name (the token
// endpoint, IBM Cloud IAM) on another host.
func (h *Handler) classifyUpstream(err error, host, name string) (int, string) {
	proxyErr, _ := errors.AsType[*upstream.ProxyError](err)
	poolErr, _ := errors.AsType[*upstream.PoolError](err)
	what, trust := "the upstream "+host, "is not signed by the CA in upstream.ca_file ("+h.opts.CAFile+
		"); download the CA file of this DBaaS Manager from the service dashboard"
	if host != h.host {
		what, trust = name+" "+host, "is not trusted (auth.iam_ca_file, or the system roots when it is unset)"
	}
	switch {
	case proxyErr != nil && proxyErr.Status != "":
		return http.StatusBadGateway, "bad gateway: the proxy " + proxyErr.Proxy + " (upstream.proxy_url) refused the tunnel to " +
			host + " with " + proxyErr.Status + "; check upstream.proxy_url and the proxy's rules"
	case proxyErr != nil:
		return http.StatusBadGateway, "bad gateway: the proxy " + proxyErr.Proxy + " (upstream.proxy_url) could not be reached; check upstream.proxy_url"
	case poolErr != nil:
		return http.StatusServiceUnavailable, fmt.Sprintf("service unavailable: the upstream connection pool is exhausted: "+
			"all %d connections (upstream.max_conns) stayed busy for %s (upstream.timeout); try again later", poolErr.MaxConns, poolErr.Waited)
	case is[x509.HostnameError](err):
		return http.StatusBadGateway, "bad gateway: the certificate of " + host +
			" is not valid for that name; set upstream.server_name to a name the certificate holds"
	case is[*upstream.PinError](err):
		return http.StatusBadGateway, "bad gateway: the certificate key of " + host +
			" matches none of upstream.pins; if the DBaaS Manager's key changed, print its pins with " +
			"dbaas-proxy pins and update upstream.pins"
	case is[x509.UnknownAuthorityError](err), is[*tls.CertificateVerificationError](err):
		return http.StatusBadGateway, "bad gateway: the certificate of " + host + " " + trust
	case is[x509.CertificateInvalidError](err):
		return http.StatusBadGateway, "bad gateway: the certificate of " + host +
			" is invalid (expired or not yet valid, or not for a server)"
	case is[tls.RecordHeaderError](err):
		return http.StatusBadGateway, "bad gateway: " + host + " does not speak TLS; upstream.url must be the DBaaS Manager's https address"
	case cause.Kind(err) == cause.Timeout:
		return http.StatusGatewayTimeout, "gateway timeout: " + what + " did not answer within " + h.opts.Timeout.String() + " (upstream.timeout); try again later"
	case is[*net.DNSError](err):
		return http.StatusBadGateway, "bad gateway: cannot resolve the host of " + what
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, wsaeconnrefused):
		return http.StatusBadGateway, "bad gateway: " + what + " refused the connection"
	}
	return http.StatusBadGateway, "bad gateway: the connection to " + what + " failed; try again, and check the network if it persists"
}

// wsaeconnrefused is Windows' WSAECONNREFUSED: syscall.ECONNREFUSED does not match it there.
const wsaeconnrefused = syscall.Errno(10061)

// is reports whether err's chain holds a T.
func is[T error](err error) bool {
	_, ok := errors.AsType[T](err)
	return ok
}
