// Package tokensource gets, caches and attaches the access tokens of the Hyper Protect DBaaS
// Manager API.
//
// It has these pieces, each usable alone:
//
//   - Exchange trades an IBM Cloud API key for an access token (GET .../auth/token with an
//     api_key header) and reads the token's expiry from its JWT payload. Every call is one
//     network round trip; it caches nothing.
//   - IAM gets the same kind of token from IBM Cloud IAM (POST {iam_url}/identity/token):
//     NewIAM with an API key, NewTrustedProfile with a trusted profile and the compute
//     resource token file the platform mounts (re-read at every exchange); with a profile,
//     NewIAM goes on to IAM's assume grant. VPC gets it from a VPC instance's metadata
//     service, Command from a program's output (RunCommand never shows its stderr).
//   - Cached decorates any Source: it keeps the current token, refreshes it in the background
//     before it expires (Start), lets any number of concurrent callers share one exchange,
//     backs off after failures, and paces the exchanges others cause (Invalidate after an
//     upstream rejection, an operator's Refresh) to a burst of two and then one per
//     MinRefreshInterval, so that the token endpoint is never hammered.
//   - Transport is an http.RoundTripper that strips every credential a client sent, attaches
//     the token of its Cache, and on a 401 tells the Cache and, if it allows, replays the
//     request once with a new token.
//
// ReadKeyFile reads an API key from a file: a bare key or the JSON file the IBM Cloud console
// downloads.
//
// # Concurrency
//
// Exchange, IAM, Cached and Transport are safe for concurrent use once built. A warm
// Cached.Token call takes no lock and allocates nothing; a cold one waits for the one exchange
// in flight without holding a lock, and gives up when its own context ends, without cancelling
// the exchange that others may be waiting for: the exchange runs on a detached context bounded
// by its own timeout. Reset (a new key) cancels the exchange in flight and its waiters wait
// for the next one. Cached.Start runs one background goroutine; Cached.Close stops it,
// cancels every exchange in flight and waits for them at most a quarter of a second.
//
// # Secrets
//
// No API key, CR token or access token ever appears in an error, a log line or a panic
// message of this package. Token's String and GoString print a fingerprint instead of the
// token.
package tokensource
