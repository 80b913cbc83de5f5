// Package tokensource gets, caches and attaches the access tokens of the Hyper Protect DBaaS
// Manager API.
//
//   - Exchange (the DBaaS token endpoint: GET .../auth/token with an api_key header), IAM
//     (IBM Cloud IAM: NewIAM with an API key, NewTrustedProfile with a trusted profile and the
//     compute resource token file, re-read at every exchange), VPC (a VPC instance's metadata
//     service) and Command (a program's output; RunCommand never shows its stderr) are
//     Sources: one network round trip per Token call, nothing cached. An endpoint's failure is
//     an *ExchangeError: credential rejected (400, 401, 403), may pass (429, 5xx, with the
//     answer's Retry-After) or no answer.
//   - Cached decorates any Source: it refreshes the token before it expires (Start), lets
//     concurrent callers share one exchange, pauses after failures (a random doubling
//     backoff, at least Retry-After, 5 minutes after a rejected credential or until Reset),
//     and paces Invalidate and Refresh to a burst of two, then one per MinRefreshInterval.
//     When a new credential fails, it serves the previous one's token until that expires.
//     Status is the one snapshot that readiness, the status page, metrics and logs read.
//   - Transport is an http.RoundTripper that strips every credential a client sent, attaches
//     the token of its Cached, and on a 401 replays the request once if the Cached allows.
//
// # Concurrency
//
// Exchange, IAM, Cached and Transport are safe for concurrent use once built. A Cached.Token
// call without a usable token waits for the one exchange in flight until its own context
// ends, without cancelling it. An exchange never runs on a caller's context (it sees none of
// its values) and is bounded by ExchangeTimeout. Reset cancels the exchange in flight; its
// waiters wait for the next. Cached.Close stops the background goroutine and cancels every
// exchange in flight, waiting for them at most a quarter of a second.
//
// # Retries
//
// Transport only replays, after a RefreshOn status, a request whose body it kept in memory
// or can get again with GetBody; resends after a broken connection are Base's rule. Cached
// never retries an exchange at once: callers get a *NoTokenError during the pause.
//
// # Secrets
//
// No API key, CR token or access token ever appears in an error, a log line or a panic
// message of this package. Token's String and GoString print a fingerprint instead.
package tokensource
