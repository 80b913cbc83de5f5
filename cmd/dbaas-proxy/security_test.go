package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// The tests in this file run the whole program and attack its listener: each defence of
// SECURITY.md with a request it must refuse and one it must let through. What reached the
// emulator is the proof that a refused request went nowhere.

// secReply is an answer read off a raw connection.
type secReply struct {
	status int
	header http.Header
	body   string
}

// secRaw sends one hand-written HTTP/1.1 request to addr, so that the path and the Host reach
// the proxy exactly as given, and reads the answer. headers are "Name: value" lines.
func secRaw(t *testing.T, addr, method, path, host, body string, headers ...string) secReply {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	status, header, respBody := testkit.RawRoundTrip(t, addr, method, b.String())
	return secReply{status: status, header: header, body: respBody}
}

// secCase is one request of a defence table and what must come of it.
type secCase struct {
	name, method, path string
	host               string // "": the listen address
	headers            []string
	wantStatus         int
	wantReached        bool // the request must reach the emulator (else nothing may)
}

// run sends the request to e's proxy and checks the status, what reached the emulator and, for
// a refusal, the JSON error shape.
func (c secCase) run(t *testing.T, e *env) secReply {
	t.Helper()
	host := c.host
	if host == "" {
		host = e.listen
	}
	var resp secReply
	reached := secReached(e.em, func() {
		resp = secRaw(t, e.listen, c.method, c.path, host, secBody(c.method, "x"), c.headers...)
	})
	if resp.status != c.wantStatus || (reached == 1) != c.wantReached || reached > 1 {
		t.Fatalf("status %d and %d requests reached the emulator; want %d and reached %v; body %s",
			resp.status, reached, c.wantStatus, c.wantReached, resp.body)
	}
	if !c.wantReached && resp.status >= 400 {
		secCheckJSONError(t, resp.body, c.wantStatus)
	}
	return resp
}

// secCheckJSONError asserts that body is the proxy's JSON error shape with code status.
func secCheckJSONError(t *testing.T, body string, status int) {
	t.Helper()
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != status || e.Message == "" {
		t.Errorf("body %q (%v) is not a JSON error with code %d", body, err, status)
	}
}

// secReached runs f and reports how many requests other than token exchanges reached em.
func secReached(em *emulator.Server, f func()) int64 {
	before := em.Counters().Requests
	f()
	return em.Counters().Requests - before
}

// secLastArrival returns the last request that reached em with path, failing the test if none.
func secLastArrival(t *testing.T, em *emulator.Server, path string) emulator.Arrival {
	t.Helper()
	reqs := em.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Path == path {
			return reqs[i]
		}
	}
	t.Fatalf("no request for %s reached the emulator", path)
	return emulator.Arrival{}
}

// secLogLines returns the JSON log lines of logs whose message is msg.
func secLogLines(t *testing.T, logs, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// secBody is body for a POST and nothing for other methods.
func secBody(method, body string) string {
	if method == http.MethodPost {
		return body
	}
	return ""
}

// secPort is the port of addr (host:port).
func secPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// secSecret is a random bearer token starting with prefix.
func secSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// TestRemoteListenNeedsAuthentication checks that a gateway listen address needs inbound
// authentication or an explicit, loudly logged acceptance of the risk.
func TestRemoteListenNeedsAuthentication(t *testing.T) {
	t.Run("refused without inbound authentication", func(t *testing.T) {
		e := newEnv(t, "")
		listen := "0.0.0.0:" + secPort(t, e.listen)
		p := start(t, nil, "-config", e.config, "-listen", listen)
		if c := p.wait(10 * time.Second); c != exitUsage {
			t.Errorf("exit code %d, want %d; stderr:\n%s", c, exitUsage, p.stderr)
		}
		mustContainAll(t, p.stderr.String(),
			fmt.Sprintf("listen: %q is not a loopback address", listen),
			"anyone who can reach it could create and delete database services with your IBM API key",
			"configure inbound authentication",
			"inbound.clients with a token_sha256 each (from `dbaas-proxy hash-token`)",
			"inbound.tls.client_ca_file for client certificates",
			"or listen on 127.0.0.1 or a unix:/path socket",
			"set inbound.allow_unauthenticated_remote: true")
		if code, _ := get(t, "http://"+e.listen+"/api/v3/me/services"); code != -1 {
			t.Errorf("something answers on %s: %d", e.listen, code)
		}
	})
	t.Run("starts with allow_unauthenticated_remote and warns", func(t *testing.T) {
		e := newEnv(t, "inbound:\n  allow_unauthenticated_remote: true\n")
		listen := "0.0.0.0:" + secPort(t, e.listen)
		p := start(t, nil, "-config", e.config, "-listen", listen)
		e.ready(t)
		if code, body := get(t, "http://"+e.listen+"/api/v3/me/services"); code != http.StatusOK {
			t.Fatalf("GET = %d %s", code, body)
		}
		var warned bool
		for _, l := range secLogLines(t, p.stderr.String(), fmt.Sprintf("inbound.allow_unauthenticated_remote is true and "+
			"listen %q is not a loopback address: ANYONE WHO CAN REACH IT CAN CREATE AND DELETE DATABASE SERVICES WITH "+
			"YOUR IBM API KEY; configure inbound.clients or inbound.tls.client_ca_file instead", listen)) {
			warned = warned || l["level"] == "warn"
		}
		if !warned {
			t.Errorf("no loud warning in stderr:\n%s", p.stderr)
		}
	})
}

// TestGatewayBearerClients runs a gateway (0.0.0.0) whose clients authenticate with bearer
// tokens, each with its own rights.
func TestGatewayBearerClients(t *testing.T) {
	writer, reader, narrow := secSecret(t, "writer"), secSecret(t, "reader"), secSecret(t, "narrow")
	wrong := secSecret(t, "wrong")
	e := newEnv(t, fmt.Sprintf("inbound:\n  clients:\n"+
		"    - {name: writer, token_sha256: %s}\n"+
		"    - {name: reader, token_sha256: %s, read_only: true}\n"+
		"    - {name: narrow, token_sha256: %s, allow_paths: ['^/api/v3/me/clusters/']}\n",
		inbound.HashToken(writer), inbound.HashToken(reader), inbound.HashToken(narrow)))
	p := start(t, nil, "-config", e.config, "-listen", "0.0.0.0:"+secPort(t, e.listen))
	e.ready(t)
	auth := func(token string) []string { return []string{"Authorization: Bearer " + token} }
	const services = "/api/v3/me/services"
	tests := []struct {
		secCase
		token, wantClient string // wantClient: the client_name of the access line
	}{
		{secCase{"good token", "GET", services, "", auth(writer), 200, true}, writer, "writer"},
		{secCase{"wrong token", "GET", services, "", auth(wrong), 401, false}, wrong, ""},
		{secCase{"missing token", "GET", services, "", nil, 401, false}, "", ""},
		{secCase{"read-only client reads", "GET", services, "", auth(reader), 200, true}, reader, "reader"},
		{secCase{"read-only client writes", "POST", services, "", auth(reader), 403, false}, reader, ""},
		{secCase{"client path allowed", "GET", "/api/v3/me/clusters/no-such-cluster", "", auth(narrow), 404, true}, narrow, "narrow"},
		{secCase{"client path outside allow_paths", "GET", services, "", auth(narrow), 403, false}, narrow, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("sec-bearer-%d", i)
			tt.headers = append(tt.headers, "X-Request-Id: "+id, "Content-Type: application/json")
			resp := tt.run(t, e)
			if got := resp.header.Get("WWW-Authenticate"); (tt.wantStatus == 401) != (got == `Bearer realm="dbaas-proxy"`) {
				t.Errorf("WWW-Authenticate = %q with status %d", got, tt.wantStatus)
			}
			if tt.wantReached {
				secCheckForwarded(t, e.em, strings.Replace(tt.path, "/me/", "/"+e.em.UserID()+"/", 1), tt.token)
				secCheckAccessLine(t, p.stderr.String(), id, tt.wantClient, tt.wantStatus)
			}
		})
	}
	logs := p.stderr.String()
	for _, tok := range []string{writer, reader, narrow, wrong} {
		if strings.Contains(logs, tok) {
			t.Errorf("a client's bearer token is in the debug log")
		}
	}
}

// secCheckForwarded asserts that the last request for path carried the proxy's token and not
// the client's credential.
func secCheckForwarded(t *testing.T, em *emulator.Server, path, clientToken string) {
	t.Helper()
	a := secLastArrival(t, em, path)
	if tok := a.Header.Get("X-Auth-Token"); tok == "" || strings.Count(tok, ".") != 2 || tok == clientToken {
		t.Errorf("x-auth-token %q is not the proxy's access token", tok)
	}
	if v := a.Header.Values("Authorization"); len(v) != 0 {
		t.Errorf("the client's Authorization header reached the emulator: %d values", len(v))
	}
	for name, vals := range a.Header {
		for _, v := range vals {
			if clientToken != "" && strings.Contains(v, clientToken) {
				t.Errorf("header %s carries the client's token upstream", name)
			}
		}
	}
}

// secCheckAccessLine asserts the access line of request id: its status and client_name.
func secCheckAccessLine(t *testing.T, logs, id, client string, status int) {
	t.Helper()
	for _, l := range secLogLines(t, logs, "request") {
		if l["request_id"] != id {
			continue
		}
		if l["client_name"] != client || l["status"] != float64(status) {
			t.Errorf("access line %v: want client_name %q and status %d", l, client, status)
		}
		return
	}
	t.Errorf("no access line for request %s", id)
}

// TestBrowserAndProtocolDefences attacks a loopback proxy as web pages and slow clients do.
func TestBrowserAndProtocolDefences(t *testing.T) {
	const trusted = "http://localhost:8888"
	e := newEnv(t, "inbound:\n  allowed_origins: ['"+trusted+"']\n  read_header_timeout: 1s\n  idle_timeout: 1s\n")
	start(t, nil, "-config", e.config)
	e.ready(t)
	port := secPort(t, e.listen)
	const services = "/api/v3/me/services"
	tests := []struct {
		secCase
		wantAllowOrigin string
	}{
		{secCase{"cross-site POST by Sec-Fetch-Site", "POST", services, "", []string{"Sec-Fetch-Site: cross-site", "Content-Type: text/plain"}, 403, false}, ""},
		{secCase{"cross-site POST by Origin", "POST", services, "", []string{"Origin: http://evil.example", "Content-Type: text/plain"}, 403, false}, ""},
		{secCase{"same-origin GET", "GET", services, "", []string{"Sec-Fetch-Site: same-origin"}, 200, true}, ""},
		{secCase{"trusted origin GET", "GET", services, "", []string{"Origin: " + trusted, "Sec-Fetch-Site: same-site"}, 200, true}, trusted},
		{secCase{"trusted origin preflight", "OPTIONS", services, "", []string{"Origin: " + trusted,
			"Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type"}, 204, false}, trusted},
		{secCase{"foreign origin preflight", "OPTIONS", services, "", []string{"Origin: http://evil.example",
			"Access-Control-Request-Method: POST"}, 403, false}, ""},
		{secCase{"rebinding Host", "GET", services, "evil.example:" + port, nil, 403, false}, ""},
		{secCase{"IPv6 loopback Host", "GET", services, "[::1]:" + port, nil, 200, true}, ""},
		{secCase{"encoded traversal", "GET", "/api/v3/me/..%2f..%2fx", "", nil, 400, false}, ""},
		{secCase{"dots inside a name", "GET", "/api/v3/me/clusters/a..b", "", nil, 404, true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.run(t, e)
			if got := resp.header.Get("Access-Control-Allow-Origin"); got != tt.wantAllowOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantAllowOrigin)
			}
			if v := resp.header.Values("Vary"); !strings.Contains(strings.Join(v, ","), "Origin") {
				t.Errorf("Vary = %q, want Origin listed", v)
			}
		})
	}
	t.Run("headers sent slowly but in time", func(t *testing.T) { secSlowButInTime(t, e.listen) })
	t.Run("slow-loris closed after read_header_timeout", func(t *testing.T) { secSlowLoris(t, e.listen) })
	t.Run("idle keep-alive closed after idle_timeout", func(t *testing.T) { secIdleClosed(t, e.listen) })
}
