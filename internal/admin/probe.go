package admin

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
)

// Probe GETs http://addr/path (addr as in admin.listen; an unspecified host is probed on
// loopback) and wants 200. It is what `healthcheck` and `wait` run; ctx bounds the wait.
func Probe(ctx context.Context, addr, path string) error {
	target, err := probeTarget(addr)
	if err != nil {
		return err
	}
	url := "http://" + target + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("admin: probe %s: %w", url, err)
	}
	// no proxy from the environment, no shared state, no redirect followed
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("admin: probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin: probe %s: answered %d, want 200", url, resp.StatusCode)
	}
	return nil
}

// probeTarget turns a listen address into an address to connect to.
func probeTarget(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin: probe: the address %q is not host:port: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}
