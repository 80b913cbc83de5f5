package admin

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
)

// Probe asks the admin listener at addr (host:port, as in admin.listen) about path: GET
// http://addr/healthz (alive) or /readyz (ready) must answer 200. An unspecified or empty host (":9090",
// "0.0.0.0:9090", "[::]:9090") is probed on loopback; ctx bounds the wait. It is what `dbaas-proxy healthcheck` (a Docker HEALTHCHECK) and `wait` run.
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
