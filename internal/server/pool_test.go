package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// startDownload sends a GET for a log of size bytes on a raw connection and reads its status
// line, so that the download holds an upstream connection; the caller reads the rest, or not.
func startDownload(t *testing.T, h *harness, size int64) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", h.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10) // read little ahead: a client that does not read
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /api/v3/me/nodes/n1/logs/big.log?size=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", size)
	br := bufio.NewReaderSize(c, 1<<10)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("download: %q, %v", line, err)
	}
	return c, br
}

// TestPoolStarvation (issue 19, defect 1): with upstream.max_conns 2 over HTTP/1.1, two
// clients that never read their large log download do not leave a plain GET unanswered: it
// gets 200 once inbound.write_idle_timeout has cut them, or, when that is longer than
// upstream.timeout, a 503 naming upstream.max_conns, and readiness then says the pool is
// exhausted; never a hang. Over HTTP/2 (the default) the downloads hold streams, not the pool.
func TestPoolStarvation(t *testing.T) {
	tests := []struct {
		name               string
		http2              bool
		writeIdle, timeout time.Duration
		want               int
	}{
		{"the stalled downloads are cut", false, time.Second, 10 * time.Second, http.StatusOK},
		{"the pool wait ends first", false, time.Minute, time.Second, http.StatusServiceUnavailable},
		{"HTTP/2", true, time.Minute, 10 * time.Second, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, func(c *config.Config) {
				c.Upstream.MaxConns, c.Upstream.MaxIdleConns, c.Upstream.Timeout = 2, 2, tt.timeout
				c.Inbound.WriteIdleTimeout, c.Upstream.HTTP2 = tt.writeIdle, tt.http2
			})
			h.serve(t)
			h.ready(t) // the token is had before the pool is taken
			for range 2 {
				startDownload(t, h, 1<<40) // 1 TiB: more than any buffer on the way
			}
			client := &http.Client{Timeout: 30 * time.Second} // a bound against hangs
			resp, err := client.Get(h.url("/api/v3/me/services"))
			if err != nil {
				t.Fatalf("a plain GET beside two stalled downloads: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == http.StatusServiceUnavailable {
				if !strings.Contains(string(body), "upstream.max_conns") {
					t.Errorf("503 without naming upstream.max_conns: %s", body)
				}
				if code, msg := get(t, h.admin("/readyz")); code != http.StatusServiceUnavailable || !strings.Contains(msg, "max_conns") {
					t.Errorf("readyz = %d %q, want 503 naming the pool", code, msg)
				}
			}
		})
	}
}

// TestSlowSteadyReader (issue 19, defect 1): a client that reads a download slowly but never
// stops for write_idle_timeout gets all of it.
func TestSlowSteadyReader(t *testing.T) {
	testkit.SkipUnderWine(t, "the download stalls, both ends waiting in I/O (a send's completion is lost, so the write deadline never ends it)")
	h := newHarness(t, Options{}, func(c *config.Config) { c.Inbound.WriteIdleTimeout = 5 * time.Second })
	h.serve(t)
	h.ready(t)
	const size = 8 << 20
	c, br := startDownload(t, h, size)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second)) // a bound against hangs
	_ = c.(*net.TCPConn).SetReadBuffer(256 << 10)
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader("HTTP/1.1 200 OK\r\n"), br)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got int64
	buf := make([]byte, 256<<10)
	for {
		n, err := io.ReadFull(resp.Body, buf)
		got += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", got, size, err)
		}
		time.Sleep(200 * time.Millisecond) // slow (6.4 s in all, past one write_idle_timeout), but never idle for one
	}
	if got != size {
		t.Fatalf("got %d bytes, want %d", got, size)
	}
}

// TestIAMOutageNamesIAM (issue 16): with auth.source iam and IAM unreachable, the client's
// 502 names IAM's host, not the DBaaS Manager's.
func TestIAMOutageNamesIAM(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	iamHost := ln.Addr().String()
	ln.Close() // nobody listens: IAM refuses every connection
	h := newSourceHarness(t, config.SourceIAM, Options{}, func(c *config.Config, _ *emulator.Server) {
		c.Auth.IAMURL = "https://" + iamHost
	})
	h.serve(t)
	code, body := get(t, h.url("/api/v3/me/services"))
	upHost := strings.TrimPrefix(h.cfg.Upstream.URL, "https://")
	if code != http.StatusBadGateway || !strings.Contains(body, iamHost) || strings.Contains(body, upHost) {
		t.Fatalf("%d %s; want 502 naming IAM (%s), not the upstream (%s)", code, body, iamHost, upHost)
	}
}

// TestProxyURL (issue 18, upstream.proxy_url): requests and the token exchange reach the
// upstream through the proxy's CONNECT tunnels only; a proxy that refuses CONNECT gets the
// client a 502 JSON naming the proxy, its password hidden; the password is in no log line.
func TestProxyURL(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "tunnels", true: "refused"}[refuse], func(t *testing.T) {
			p := testkit.NewConnectProxy(t, refuse)
			h := newHarness(t, Options{}, func(c *config.Config) { c.Upstream.ProxyURL = p.URL.String() })
			h.serve(t)
			code, body := get(t, h.url("/api/v3/me/services"))
			if !refuse {
				if code != http.StatusOK {
					t.Fatalf("%d %s", code, body)
				}
				for _, r := range p.Seen() {
					if !strings.HasPrefix(r, "CONNECT ") {
						t.Errorf("the proxy saw %q: not a CONNECT", r)
					}
				}
			} else if code != http.StatusBadGateway || !strings.Contains(body, "http://user:***@"+p.URL.Host) ||
				!strings.Contains(body, "upstream.proxy_url") || !strings.HasPrefix(body, `{"code":502`) {
				t.Fatalf("%d %s; want a 502 JSON naming the proxy", code, body)
			}
			if logs := h.logs.String(); strings.Contains(logs, "pa:ss") || strings.Contains(logs, "pa%3Ass") ||
				!strings.Contains(logs, "user:***@") {
				t.Errorf("the logs show the proxy's password, or not the proxy:\n%s", logs)
			}
		})
	}
}

// TestProxyURLCarriesIAM: with auth.source iam, the IAM exchange goes through the proxy of
// upstream.proxy_url too (a CONNECT to IAM's host), verified against auth.iam_ca_file as
// without it.
func TestProxyURLCarriesIAM(t *testing.T) {
	p := testkit.NewConnectProxy(t, false)
	h := newSourceHarness(t, config.SourceIAM, Options{}, func(c *config.Config, _ *emulator.Server) {
		c.Upstream.ProxyURL = p.URL.String()
	})
	h.serve(t)
	if code, body := get(t, h.url("/api/v3/me/services")); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	iamHost := strings.TrimPrefix(h.cfg.Auth.IAMURL, "https://")
	seen := strings.Join(p.Seen(), "\n")
	if !strings.Contains(seen, "CONNECT "+iamHost+" ") {
		t.Errorf("the proxy saw no CONNECT to IAM (%s):\n%s", iamHost, seen)
	}
}
