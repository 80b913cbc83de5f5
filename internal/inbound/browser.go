package inbound

import (
	"net/http"
	"strings"
)

// CrossSite reports whether r was sent by a web page of another site than the listener's own,
// and why. Browsers mark such requests with Sec-Fetch-Site "cross-site" or "same-site", or with
// an Origin header; curl, scripts and SDKs send neither and always pass. An Origin equal (case
// insensitively) to one in allowedOrigins passes whatever Sec-Fetch-Site says: a page on
// another port of localhost is "same-site", and browsers never let a page forge its Origin.
func CrossSite(r *http.Request, allowedOrigins []string) (reason string, blocked bool) {
	origin := r.Header.Get("Origin")
	if origin != "" {
		for _, o := range allowedOrigins {
			if strings.EqualFold(o, origin) {
				return "", false
			}
		}
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
