package tokensource

import "net/http"

// Temporary reports whether the status means a failure that may pass (5xx or 429).
func (e *ExchangeError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}
