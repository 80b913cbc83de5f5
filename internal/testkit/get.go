package testkit

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Get returns the status and body of GET url on a new connection (no keep-alive, 10 s
// bound), or -1 and the error's text when it cannot connect.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
