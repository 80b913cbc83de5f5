package inbound

import (
	"net/http"
	"slices"
	"strings"
)

// cors prepares w for r's Origin, adding "Vary: Origin" when the answer depends on it. For an
// Origin in allowed_origins it returns a writer that sets its CORS headers; otherwise nil.
func (g *Guard) cors(w http.ResponseWriter, r *http.Request) *corsWriter {
	origin := r.Header.Get("Origin")
	if origin == "" && len(g.cfg.AllowedOrigins) == 0 {
		return nil
	}
	addVary(w.Header(), "Origin")
	if origin == "" || !originIn(g.cfg.AllowedOrigins, origin) {
		return nil
	}
	return &corsWriter{ResponseWriter: w, origin: origin}
}

// originIn reports whether origin is in origins (compared case-insensitively).
func originIn(origins []string, origin string) bool {
	return slices.ContainsFunc(origins, func(o string) bool { return strings.EqualFold(o, origin) })
}

// preflight answers a preflight from an allowed origin locally: 204 allowing the requested
// method (unless denied) and echoing the requested headers, never credentials.
func (g *Guard) preflight(w *corsWriter, r *http.Request, path string) {
	method := r.Header.Get("Access-Control-Request-Method")
	headers, ok := requestedHeaders(r.Header.Values("Access-Control-Request-Headers"))
	v := g.denyMethod(method)
	if !isToken(method) || !ok {
		v = verdict{http.StatusBadRequest, "cors", "bad request: Access-Control-Request-Method is not " +
			"an HTTP method, or Access-Control-Request-Headers is not a list of header names"}
	}
	if v.status != 0 {
		g.reject(w, r, path, v)
		return
	}
	h := w.Header()
	setCORS(h, w.origin)
	w.done = true
	h.Set("Access-Control-Allow-Methods", method)
	if headers != "" {
		h.Set("Access-Control-Allow-Headers", headers)
	}
	h.Set("Access-Control-Max-Age", "600") // seconds a browser may reuse this answer
	addVary(h, "Access-Control-Request-Method")
	addVary(h, "Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
}

// requestedHeaders joins the names of Access-Control-Request-Headers values, lower case, and
// reports whether each is a header name (an RFC 9110 token).
func requestedHeaders(vals []string) (string, bool) {
	var names []string
	for name := range strings.SplitSeq(strings.Join(vals, ","), ",") {
		switch name = strings.TrimSpace(name); {
		case name == "":
		case !isToken(name):
			return "", false
		default:
			names = append(names, strings.ToLower(name))
		}
	}
	return strings.Join(names, ", "), true
}

// corsWriter sets the CORS headers for origin when the header is written, after the upstream's
// headers have been copied in: the proxy, not the upstream, decides what a page may read.
type corsWriter struct {
	http.ResponseWriter
	origin string
	done   bool // a final header was written
}

// set sets the CORS headers unless a final header was written; final says whether this one is.
func (w *corsWriter) set(final bool) {
	if !w.done {
		setCORS(w.Header(), w.origin)
		w.done = final
	}
}

func (w *corsWriter) WriteHeader(code int) {
	w.set(code >= 200)
	w.ResponseWriter.WriteHeader(code)
}

func (w *corsWriter) Write(b []byte) (int, error) {
	w.set(true)
	return w.ResponseWriter.Write(b)
}

func (w *corsWriter) Flush() {
	w.set(true)
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the underlying writer (Hijack, deadlines).
func (w *corsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setCORS replaces every Access-Control-* header with those for origin; never credentials.
func setCORS(h http.Header, origin string) {
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "X-Request-Id") // readable beyond the safelisted ones
	addVary(h, "Origin")
}

// addVary adds name to the Vary header unless a Vary value already lists it or "*".
func addVary(h http.Header, name string) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return
			}
		}
	}
	h.Add("Vary", name)
}

// CrossSite reports whether r came from a web page of another site, and why: Sec-Fetch-Site
// cross-site or same-site, or an Origin; curl and SDKs send neither. An Origin in allowedOrigins
// passes (a page on another localhost port is same-site; browsers never let pages forge Origin).
func CrossSite(r *http.Request, allowedOrigins []string) (reason string, blocked bool) {
	origin := r.Header.Get("Origin")
	if origin != "" && originIn(allowedOrigins, origin) {
		return "", false
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); {
	case strings.EqualFold(site, "cross-site"), strings.EqualFold(site, "same-site"):
		return "a request from a web page of another site (Sec-Fetch-Site: " + strings.ToLower(site) + ")", true
	}
	if origin == "" {
		return "", false
	}
	return "a request from a web page whose Origin is not in inbound.allowed_origins", true
}
