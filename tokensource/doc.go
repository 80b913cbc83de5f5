// Package tokensource gets, caches and attaches the access tokens of the Hyper Protect DBaaS
// Manager API.
//
// It has three pieces, each usable alone:
//
//   - Exchange trades an IBM Cloud API key for an access token (GET .../auth/token with an
//     api_key header) and reads the token's expiry from its JWT payload. Every call is one
//     network round trip; it caches nothing.
//   - Cached decorates any Source: it keeps the current token, refreshes it in the background
//     before it expires (Start), lets any number of concurrent callers share one exchange, and
//     backs off after failures so that the token endpoint is never hammered.
//   - Transport is an http.RoundTripper that strips every credential a client sent, attaches
//     the token, and on a 401 invalidates it and replays the request once with a new one.
//
// ReadKeyFile and ParseKey read an API key from a file: a bare key or the JSON file the IBM
// Cloud console downloads.
//
// # Concurrency
//
// Exchange, Cached and Transport are safe for concurrent use once built. A warm Cached.Token
// call takes no lock and allocates nothing; a cold one waits for the one exchange in flight
// without holding a lock, and gives up when its own context ends, without cancelling the
// exchange that others may be waiting for: the exchange runs on a detached context bounded by
// its own timeout. Cached.Start runs one background goroutine, which Cached.Close stops and
// waits for.
//
// # Secrets
//
// No API key or access token ever appears in an error, a log line or a panic message of this
// package. Token's String and GoString print a fingerprint instead of the token.
package tokensource
