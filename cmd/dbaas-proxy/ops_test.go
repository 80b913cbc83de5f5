package main

// End-to-end tests of running dbaas-proxy in production: readiness, graceful and forced
// shutdown, metrics and the access log (reloads: ops_reload_test.go; the commands that end by
// themselves: ops_commands_test.go). Every test runs the whole program in-process in front of
// the emulator over real loopback sockets.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
)

const opsTokenPath = "/api/v1/auth/token"

// opsResp is an HTTP answer; code is -1 when the request failed.
type opsResp struct {
	code   int
	header http.Header
	body   string
	err    error
}

// opsDo sends one request on a connection of its own (c nil: plain HTTP) and reads the answer.
func opsDo(ctx context.Context, c *http.Client, method, url string, header map[string]string, body string) opsResp {
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rb)
	if err != nil {
		return opsResp{code: -1, err: err}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	resp, err := c.Do(req)
	if err != nil {
		return opsResp{code: -1, err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return opsResp{code: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// opsArrived reports whether a request whose path ends with suffix reached em.
func opsArrived(em *emulator.Server, suffix string) bool {
	for _, a := range em.Requests() {
		if strings.HasSuffix(a.Path, suffix) {
			return true
		}
	}
	return false
}

// opsLogLine returns the first JSON log line for which match holds, or nil.
func opsLogLine(logs string, match func(map[string]any) bool) map[string]any {
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && match(m) {
			return m
		}
	}
	return nil
}

// opsScrape returns the admin listener's /metrics.
func opsScrape(t *testing.T, e *env) string {
	t.Helper()
	code, body := get(t, "http://"+e.admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", code, body)
	}
	return body
}

// opsMetric sums the samples of metric name whose labels include each of labels (`k="v"`).
func opsMetric(text, name string, labels ...string) float64 {
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		series, value := line[:i], line[i+1:]
		n, lbl, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(lbl, l)
		}
		if f, err := strconv.ParseFloat(value, 64); ok && err == nil {
			sum += f
		}
	}
	return sum
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(em *emulator.Server)
		want      string // in the 503 body of /readyz
		thenReady bool
	}{
		{"before the first token", func(em *emulator.Server) {
			em.SetFault(opsTokenPath, emulator.Fault{Latency: 2 * time.Second, Times: 1})
		}, "no token yet: the first token exchange has not finished", true},
		{"rejected key", func(em *emulator.Server) { em.RemoveAPIKey(em.APIKey()) },
			"rejected the API key (401)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			tt.setup(e.em)
			start(t, nil, "-config", e.config)
			var code int
			var body string
			eventually(t, 10*time.Second, "readyz names the reason", func() bool {
				code, body = get(t, "http://"+e.admin+"/readyz")
				return code == http.StatusServiceUnavailable && strings.Contains(body, tt.want)
			})
			if tt.thenReady {
				e.ready(t)
				return
			}
			if r := opsDo(t.Context(), nil, "GET", "http://"+e.listen+"/api/v3/me/services", nil, ""); r.code != http.StatusServiceUnavailable {
				t.Errorf("GET services with a rejected key = %d %s, want 503", r.code, r.body)
			}
			if code, body = get(t, "http://"+e.admin+"/readyz"); code != http.StatusServiceUnavailable {
				t.Errorf("readyz = %d %s after a request, want 503", code, body)
			}
		})
	}
}

// TestGracefulShutdown: readiness fails as soon as SIGTERM arrives. The admin listener keeps
// answering while the proxy drains (it is shut down after the proxy listener), so probes see a
// 503 with the reason rather than a refused connection, and liveness stays 200; the request in
// flight completes, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t, "")
	p := start(t, nil, "-config", e.config)
	e.ready(t)
	slow := make(chan opsResp, 1)
	go func() {
		slow <- opsDo(context.Background(), nil, "GET", "http://"+e.listen+"/api/v3/me/_echo?sleep=2s", nil, "")
	}()
	eventually(t, 5*time.Second, "the slow request reaches the emulator", func() bool { return opsArrived(e.em, "/_echo") })
	p.sig <- syscall.SIGTERM
	var code int
	var body string
	eventually(t, 5*time.Second, "readyz fails", func() bool {
		code, body = get(t, "http://"+e.admin+"/readyz")
		return code != http.StatusOK
	})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("readyz after SIGTERM = %d %q, want 503 shutting down", code, body)
	}
	if code, body := get(t, "http://"+e.admin+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz while draining = %d %q, want 200: liveness must not fail during a shutdown", code, body)
	}
	select {
	case r := <-slow:
		t.Fatalf("readiness failed only after the request in flight ended (%d)", r.code)
	default:
	}
	var r opsResp
	select {
	case r = <-slow:
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight did not complete")
	}
	var echo struct{ Method, Path, RawQuery string }
	if r.code != http.StatusOK || json.Unmarshal([]byte(r.body), &echo) != nil || r.err != nil {
		t.Fatalf("request in flight = %d %v %q, want 200 and the whole echo", r.code, r.err, r.body)
	}
	if cl := r.header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(r.body)) {
		t.Errorf("body of %d bytes, Content-Length %s", len(r.body), cl)
	}
	if want := "/api/v3/" + e.em.UserID() + "/_echo"; echo.Path != want {
		t.Errorf("echo path %q, want %q", echo.Path, want)
	}
	if c := p.wait(10 * time.Second); c != exitOK {
		t.Errorf("exit code %d, want 0; stderr:\n%s", c, p.stderr)
	}
	if code, _ := get(t, "http://"+e.admin+"/readyz"); code != -1 {
		t.Errorf("readyz after exit = %d, want no listener", code)
	}
}

// TestSecondSignalForcesExit: a second SIGTERM or SIGINT during a long shutdown exits at once
// with 128+N, even when a SIGHUP came in between.
func TestSecondSignalForcesExit(t *testing.T) {
	tests := []struct {
		name string
		then []os.Signal // sent after the first SIGTERM has turned readiness off
		code int
	}{
		{"SIGTERM", []os.Signal{syscall.SIGTERM}, 143},
		{"SIGINT", []os.Signal{syscall.SIGINT}, 130},
		{"SIGHUP then SIGTERM", []os.Signal{syscall.SIGHUP, syscall.SIGTERM}, 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			p := start(t, nil, "-config", e.config)
			e.ready(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			slow := make(chan opsResp, 1)
			go func() {
				slow <- opsDo(ctx, nil, "GET", "http://"+e.listen+"/api/v3/me/_echo?sleep=20s", nil, "")
			}()
			eventually(t, 5*time.Second, "the slow request reaches the emulator", func() bool { return opsArrived(e.em, "/_echo") })
			p.sig <- syscall.SIGTERM
			eventually(t, 5*time.Second, "readyz fails", func() bool {
				code, _ := get(t, "http://"+e.admin+"/readyz")
				return code != http.StatusOK
			})
			for _, s := range tt.then {
				p.sig <- s
			}
			select {
			case c := <-p.exited:
				if c != tt.code {
					t.Errorf("forced exit code %d, want %d", c, tt.code)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("the second signal did not force the exit; stderr:\n%s", p.stderr)
			}
			cancel() // the in-process "exit" returns: let the request end so the process stops
			<-slow
			p.wait(10 * time.Second)
		})
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, "")
	p := start(t, nil, "-config", e.config)
	e.ready(t)
	uid, cluster := e.em.UserID(), "5d1b7a3c-0f4e-4c8a-9b2d-7e6f5a4b3c2d"
	base := "http://" + e.listen + "/api/v3/"
	for _, u := range []string{base + "me/services", base + uid + "/services", base + uid + "/clusters/" + cluster} {
		if r := opsDo(t.Context(), nil, "GET", u, nil, ""); r.code == -1 {
			t.Fatal(r.err)
		}
	}
	services := []string{`method="GET"`, `code="200"`, `template="/api/v3/{user_id}/services"`}
	count := func() float64 { return opsMetric(opsScrape(t, e), "dbaas_proxy_requests_total", services...) }
	eventually(t, 5*time.Second, "requests_total counts both services requests", func() bool { return count() == 2 })
	text := opsScrape(t, e)
	for _, raw := range []string{uid, cluster} {
		if strings.Contains(text, raw) {
			t.Errorf("/metrics holds the raw id %s", raw)
		}
	}
	if opsMetric(text, "dbaas_proxy_requests_total", `template="/api/v3/{user_id}/clusters/{cluster_id}"`) != 1 {
		t.Errorf("no cluster template series in\n%s", text)
	}
	if n := opsMetric(text, "dbaas_proxy_token_exchanges_total", `result="ok"`); n != 1 {
		t.Errorf("token_exchanges_total{result=ok} = %v, want 1", n)
	}
	replays := opsMetric(text, "dbaas_proxy_replays_total")
	e.em.RevokeAll()
	hdr := map[string]string{"X-Request-Id": "ops-replayed"}
	if r := opsDo(t.Context(), nil, "GET", base+"me/services", hdr, ""); r.code != http.StatusOK {
		t.Fatalf("GET after RevokeAll = %d %s", r.code, r.body)
	}
	eventually(t, 5*time.Second, "the access line says replayed", func() bool {
		return opsLogLine(p.stderr.String(), func(m map[string]any) bool {
			return m["request_id"] == "ops-replayed" && m["replayed"] == true
		}) != nil
	})
	eventually(t, 5*time.Second, "requests_total increases", func() bool { return count() == 3 })
	text = opsScrape(t, e)
	if n := opsMetric(text, "dbaas_proxy_replays_total"); n != replays+1 {
		t.Errorf("replays_total = %v after a revoked token, want %v", n, replays+1)
	}
	if n := opsMetric(text, "dbaas_proxy_token_exchanges_total", `result="ok"`); n != 2 {
		t.Errorf("token_exchanges_total{result=ok} = %v after a revoked token, want 2", n)
	}
	// The status page counts the same requests by class and lists the last one.
	code, page := get(t, "http://"+e.admin+"/")
	if code != http.StatusOK {
		t.Fatalf("status page = %d", code)
	}
	for _, want := range []string{
		`<span class="count">3</span> <span class="muted">2xx</span>`,
		`<span class="count">1</span> <span class="muted">4xx</span>`,
		"/api/v3/me/services", uid,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page does not show %q", want)
		}
	}
}

func TestAccessLog(t *testing.T) {
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			e := newEnv(t, "")
			p := start(t, nil, "-config", e.config, "-log-level", level)
			e.ready(t)
			id, query, body := "ops-access-"+level, "marker=q-"+level, `{"hello":"world"}`
			r := opsDo(t.Context(), nil, "POST", "http://"+e.listen+"/api/v3/me/_echo?"+query,
				map[string]string{"X-Request-Id": id, "Content-Type": "application/json"}, body)
			if r.code != http.StatusOK || r.header.Get("X-Request-Id") != id {
				t.Fatalf("POST = %d, X-Request-Id %q: %s", r.code, r.header.Get("X-Request-Id"), r.body)
			}
			var line map[string]any
			eventually(t, 5*time.Second, "the access line", func() bool {
				line = opsLogLine(p.stderr.String(), func(m map[string]any) bool {
					return m["message"] == "request" && m["request_id"] == id
				})
				return line != nil
			})
			want := map[string]any{"method": "POST", "path": "/api/v3/me/_echo",
				"status": 200.0, "bytes_in": float64(len(body)), "bytes_out": float64(len(r.body)), "replayed": false}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %#v, want %#v", k, line[k], v)
				}
			}
			if c, _ := line["client"].(string); !strings.HasPrefix(c, "127.0.0.1:") {
				t.Errorf("client = %#v", line["client"])
			}
			d, _ := line["duration_ms"].(float64)
			if ud, ok := line["upstream_duration_ms"].(float64); !ok || ud <= 0 || d < ud {
				t.Errorf("duration_ms %v, upstream_duration_ms %v", line["duration_ms"], line["upstream_duration_ms"])
			}
			if q, has := line["query"]; level == "debug" && q != query || level == "info" && has {
				t.Errorf("query = %#v at %s", q, level)
			}
			if level == "info" && strings.Contains(p.stderr.String(), "q-info") {
				t.Error("the query string is in the info-level log")
			}
			if n := e.em.Deliveries(id); n != 1 {
				t.Errorf("the emulator saw X-Request-Id %q %d times, want 1", id, n)
			}
		})
	}
}
