package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// tlsConfig trusts the CA file (if any).
func tlsConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// get sends one GET with the headers and drains the answer; a non-2xx status is an error.
func get(c *http.Client, url string, hdr map[string]string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return body, nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct returns the p-th percentile (0-100) of sorted durations (nearest rank).
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func oneshot(args []string) error {
	fs := flag.NewFlagSet("oneshot", flag.ContinueOnError)
	url := fs.String("url", "", "the call")
	token := fs.String("token", "", "x-auth-token to send (direct with a cached token)")
	dance := fs.String("dance", "", "token URL to call first with the API key (direct, token dance)")
	keyFile := fs.String("key-file", "", "API key file for -dance")
	caFile := fs.String("ca", "", "CA file for https")
	n := fs.Int("n", 20, "calls")
	name := fs.String("name", "", "label of the output line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tc, err := tlsConfig(*caFile)
	if err != nil {
		return err
	}
	var key string
	if *dance != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		key = strings.TrimSpace(string(b))
	}
	var lat []time.Duration
	errs := 0
	for range *n {
		tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: false, DisableCompression: true}
		c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		start := time.Now()
		err := func() error {
			tok := *token
			if *dance != "" {
				body, err := get(c, *dance, map[string]string{"api_key": key, "accept": "application/json"})
				if err != nil {
					return err
				}
				var t struct {
					AccessToken string `json:"access_token"`
				}
				if err := json.Unmarshal(body, &t); err != nil {
					return err
				}
				tok = t.AccessToken
			}
			hdr := map[string]string{"accept": "application/json"}
			if tok != "" {
				hdr["x-auth-token"] = tok
			}
			_, err := get(c, *url, hdr)
			return err
		}()
		d := time.Since(start)
		tr.CloseIdleConnections()
		if err != nil {
			errs++
			fmt.Fprintln(os.Stderr, "client: oneshot:", err)
			continue
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	fmt.Printf("ONESHOT name=%s n=%d p50_ms=%.1f p90_ms=%.1f max_ms=%.1f errors=%d\n",
		*name, len(lat), ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 100)), errs)
	return nil
}

func burst(args []string) error {
	fs := flag.NewFlagSet("burst", flag.ContinueOnError)
	ready := fs.String("ready", "", "readiness URL, polled every 2 ms")
	url := fs.String("url", "", "the call")
	n := fs.Int("n", 64, "calls at once")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for readiness")
	name := fs.String("name", "", "label of the output line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *n, DisableCompression: true}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	poll := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(*wait)
	for {
		resp, err := poll.Get(*ready)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return errors.New("burst: not ready in time")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t0 := time.Now()
	lat := make([]time.Duration, *n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := 0
	for i := range *n {
		wg.Go(func() {
			if _, err := get(c, *url, nil); err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
				fmt.Fprintln(os.Stderr, "client: burst:", err)
			}
			lat[i] = time.Since(t0)
		})
	}
	wg.Wait()
	slices.Sort(lat)
	fmt.Printf("BURST name=%s n=%d p50_ms=%.1f last_ms=%.1f errors=%d\n",
		*name, *n, ms(pct(lat, 50)), ms(lat[len(lat)-1]), errs)
	return nil
}

// tlsClient wraps c in TLS; the handshake runs on the first write.
func tlsClient(c net.Conn, cfg *tls.Config) net.Conn { return tls.Client(c, cfg) }
