package admin

import (
	"net/http"

	"github.com/dbaas-proxy/dbaas-proxy/internal/jsonerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// authorized lets r on when the listener is loopback or r has a bearer token of Options.Clients;
// else it answers 401. Health, readiness and metrics never ask: probes and scrapers need them.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if !h.remote {
		return true
	}
	if name, ok := h.opts.Clients.Check(r); ok {
		h.log.Debug().Str("client", name).Str("path", netrule.LogValue(r.URL.Path)).Msg("admin: client authenticated")
		return true
	}
	h.refused.Warn().Str("remote", r.RemoteAddr).Str("path", netrule.LogValue(r.URL.Path)).Msg("admin: refused a request without a valid admin client token")
	msg := "unauthorized: admin.listen is not a loopback address, so the status page, /status.json and the POSTs " +
		"need \"Authorization: Bearer <token>\" with a token whose SHA-256 is in admin.clients"
	if h.opts.Clients.Empty() {
		msg += "; admin.clients is empty, so they are unavailable from afar until you add one " +
			"(/healthz, /readyz and /metrics stay open)"
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="dbaas-proxy admin"`)
	jsonerr.Write(w, http.StatusUnauthorized, msg)
	return false
}
