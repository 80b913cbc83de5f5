package proxy

import "time"

// Record describes one request the proxy served, handed to Options.Observe when the response
// is complete. It never holds a secret, and Path holds no query string.
type Record struct {
	Time             time.Time     // when the request arrived
	Route            string        // Options.Route
	ID               string        // X-Request-Id, kept from the client or generated
	Client           string        // the client's address (host:port, or "@" for a Unix socket)
	ClientName       string        // the authenticated client's name in gateway mode, else ""
	Method           string        // the request method
	Path             string        // the escaped path as the client sent it
	Template         string        // the API path template, e.g. /api/v3/{user_id}/clusters/{cluster_id}
	Status           int           // the status sent to the client
	BytesIn          int64         // request body bytes read from the client
	BytesOut         int64         // response body bytes written to the client
	Duration         time.Duration // from arrival to the end of the response
	UpstreamDuration time.Duration // time to the upstream's response headers, 0 when not forwarded
	Replayed         bool          // the request was sent again after an upstream 401
	Error            string        // the message of a local error answer, "" when none
	Fault            string        // why the upstream was not reached (cause.Kind), "" when it was
}
