package emulator

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
)

// maxSegs is how many path segments are kept; longer paths only match the echo route.
const maxSegs = 10

// exchange is one request on its way through the emulator.
type exchange struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	path  string // escaped, as on the wire
	query string
	segs  [maxSegs]string // the first segments of path, without the leading "/"
	nseg  int             // the number of segments of path, even beyond maxSegs
	body  *meter          // nil for a request without a body
	kind  listenerKind    // what the listener the request came on serves
}

// split cuts path into segments without allocating.
func (e *exchange) split() {
	p, ok := strings.CutPrefix(e.path, "/")
	if !ok {
		return
	}
	for {
		seg, rest, more := strings.Cut(p, "/")
		if e.nseg < maxSegs {
			e.segs[e.nseg] = seg
		}
		e.nseg++
		if !more {
			return
		}
		p = rest
	}
}

// seg returns segment i, or "" when the path is shorter.
func (e *exchange) seg(i int) string {
	if i < e.nseg && i < maxSegs {
		return e.segs[i]
	}
	return ""
}

func validVersion(v string) bool { return v == "v1" || v == "v2" || v == "v3" }

// isToken reports whether the path is /api/{v}/auth/token.
func (e *exchange) isToken() bool {
	return e.kind != listenerIAM && e.nseg == 4 && e.segs[0] == "api" && validVersion(e.segs[1]) &&
		e.segs[2] == "auth" && e.segs[3] == "token"
}

// isIAM reports whether the request is for the IAM token endpoint on a listener serving it.
func (e *exchange) isIAM() bool { return e.kind != listenerAPI && e.path == iamTokenPath }

// token answers the token exchange.
func (e *exchange) token() {
	if e.r.Method != http.MethodGet {
		e.w.Header().Set("Allow", http.MethodGet)
		e.fail(http.StatusMethodNotAllowed, "the token endpoint only answers GET")
		return
	}
	key := e.r.Header.Get("Api_key")
	if key == "" {
		e.fail(e.s.opts.MissingKeyStatus, "the API key is needed (header api_key)")
		return
	}
	accountID, ok := e.s.auth.accountOf(key)
	if !ok {
		e.fail(e.s.opts.WrongKeyStatus, "the API key is not valid")
		return
	}
	tok, err := e.s.auth.issue(accountID, e.s.now(), grantAPIKey)
	if err != nil {
		e.s.log.Error().Err(err).Msg("emulator: issue token")
		e.fail(http.StatusInternalServerError, "internal error")
		return
	}
	e.writeJSON(http.StatusOK, []byte(`{"access_token": "`+tok.token+`", "user_id": "`+accountID+`"}`))
}

// serveAPI authenticates a call under /api/{v}/{user_id}/ and routes it.
func (e *exchange) serveAPI() {
	if e.nseg < 3 || e.segs[0] != "api" || !validVersion(e.segs[1]) || e.segs[2] == "" {
		e.fail(http.StatusNotFound, "no such route")
		return
	}
	accountID, ok := e.authenticate()
	if !ok {
		return
	}
	if e.segs[2] != accountID {
		e.fail(e.s.opts.ForeignUserStatus, "the user id in the path is not the account of the access token")
		return
	}
	if e.seg(3) == "_echo" {
		e.s.rec.delivered(e.r.Header.Get("X-Request-Id"))
		e.echo()
		return
	}
	e.route(accountID)
}

// authenticate returns the account of the request's token or answers BadTokenStatus.
func (e *exchange) authenticate() (string, bool) {
	tok := e.r.Header.Get("X-Auth-Token")
	if tok == "" && e.segs[1] == "v3" {
		if a := e.r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			tok = strings.TrimSpace(a[7:])
		}
	}
	if tok == "" {
		e.fail(e.s.opts.BadTokenStatus, "an access token is needed (header x-auth-token)")
		return "", false
	}
	accountID, ok := e.s.auth.check(tok, e.s.now())
	if !ok {
		e.fail(e.s.opts.BadTokenStatus, "the access token is not valid, has expired or was revoked")
		return "", false
	}
	return accountID, true
}

// writeHeader counts the answer and sends the status.
func (e *exchange) writeHeader(code int) {
	e.count(code)
	e.w.WriteHeader(code)
}

// count counts an answer with status code.
func (e *exchange) count(code int) {
	rc := &e.s.rec
	if e.isIAM() {
		switch {
		case code == http.StatusOK:
			rc.iamExchanges.Add(1)
		case code >= 400 && code < 500:
			rc.iamRejected.Add(1)
		}
		return
	}
	if e.isToken() {
		switch {
		case code == http.StatusOK:
			rc.tokenExchanges.Add(1)
		case code >= 400 && code < 500:
			rc.tokenRejected.Add(1)
		}
		return
	}
	if code == e.s.opts.BadTokenStatus {
		rc.unauthorized.Add(1)
	}
	if code == e.s.opts.ForeignUserStatus {
		rc.forbidden.Add(1)
	}
}

// fail reads what is left of the body (up to drainLimit) and answers the JSON error shape
// (IAM's shape on the IAM endpoint).
func (e *exchange) fail(code int, msg string) {
	if e.body != nil {
		_, _ = io.CopyN(io.Discard, e.body, drainLimit)
	}
	if e.isIAM() {
		e.iamFail(code, iamErrGeneric, msg, "")
		return
	}
	e.s.log.Debug().Str("method", e.r.Method).Str("path", e.path).Int("status", code).
		Msg("emulator: " + msg)
	e.count(code)
	jsonerr.Write(e.w, code, msg)
}

// writeJSON sends a complete JSON answer.
func (e *exchange) writeJSON(code int, b []byte) {
	h := e.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	e.writeHeader(code)
	_, _ = e.w.Write(b)
}
