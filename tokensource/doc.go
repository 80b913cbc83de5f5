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
//   - ExchangeError is the one error of every Source whose endpoint failed: it names the
//     endpoint, and says whether the credential was rejected (400, 401, 403), the failure may
//     pass (429, 5xx, with the answer's Retry-After) or no answer came.
//   - Cached decorates any Source: it keeps the current token, refreshes it in the background
//     before it expires (Start), lets any number of concurrent callers share one exchange,
//     and pauses after failures: a random, doubling backoff, at least the answer's
//     Retry-After, and 5 minutes after a rejected credential (or until Reset, a new
//     credential). It paces the exchanges others cause (Invalidate after an upstream
//     rejection, an operator's Refresh) to a burst of two and then one per
//     MinRefreshInterval. When the first exchange with a new credential fails, it keeps
//     serving the previous credential's token until that expires, and says so (Status).
//   - Status is the one snapshot of the token's state that readiness, the status page, the
//     metrics and the logs read.
//   - Transport is an http.RoundTripper that strips every credential a client sent, attaches
//     the token of its Cached, and on a 401 tells the Cached and, if it allows, replays the
//     request once with a new token.
//
// ReadKeyFile reads an API key from a file: a bare key or the JSON file the IBM Cloud console
// downloads.
//
// # Concurrency
//
// Exchange, IAM, Cached and Transport are safe for concurrent use once built. A Cached.Token
// call without a usable token waits for the one exchange in flight, and gives up when its own
// context ends, without cancelling the exchange that others may be waiting for. An exchange never runs on a caller's context:
// it sees none of its values (a request's trace, its writer) and is bounded by its own
// ExchangeTimeout. Reset (a new credential) cancels the exchange in flight and its waiters
// wait for the next one. Cached.Start runs one background goroutine; Cached.Close stops it,
// cancels every exchange in flight and waits for them at most a quarter of a second.
//
// # Retries
//
// The only resend Transport itself does is a replay after a RefreshOn status (401 by default)
// of a request whose body it kept whole in memory or can get again with GetBody; whether Base
// sends a request again after a broken connection is Base's rule, not this package's. Cached
// never retries an exchange at once: each failure pauses as above, and callers get a
// *NoTokenError meanwhile.
//
// # Secrets
//
// No API key, CR token or access token ever appears in an error, a log line or a panic
// message of this package. Token's String and GoString print a fingerprint instead of the
// token.
package tokensource
