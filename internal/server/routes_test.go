package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// startEmulator starts an emulator for the test and writes its CA file into dir.
func startEmulator(t *testing.T, dir, name string, opts emulator.Options) (*emulator.Server, string) {
	t.Helper()
	opts.Logger = zerolog.Nop()
	em, err := emulator.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	ca := filepath.Join(dir, name+"-ca.pem")
	if err := em.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	return em, ca
}

// routesConfig is a config of routes over the defaults, with loopback listeners on free ports.
func routesConfig(ids []config.Identity, routes ...config.Route) *config.Config {
	cfg := config.Defaults()
	cfg.Admin.Listen, cfg.ShutdownTimeout = "127.0.0.1:0", 5*time.Second
	cfg.Identities, cfg.Routes = ids, routes
	return &cfg
}

// serveConfig validates cfg, builds the server and serves it until the test ends.
func serveConfig(t *testing.T, cfg *config.Config) (*Server, *testkit.SyncBuffer) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	srv, err := New(cfg, Options{Logger: zerolog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return within 30 s")
		}
	})
	return srv, logs
}

func dbaasIdentity(name, keyFile string) config.Identity {
	return config.Identity{Name: name, AuthConfig: config.AuthConfig{APIKeyFile: keyFile}}
}

func routeTo(name, url, ca, identity string) config.Route {
	return config.Route{Name: name, Listen: "127.0.0.1:0", Identity: identity,
		Upstream: config.UpstreamConfig{URL: url, CAFile: ca}}
}

func routeURL(srv *Server, name, path string) string {
	return "http://" + srv.RouteAddr(name).String() + path
}

func adminURL(srv *Server, path string) string { return "http://" + srv.AdminAddr().String() + path }

// waitReady polls /readyz until 200.
func waitReady(t *testing.T, srv *Server) {
	t.Helper()
	eventually(t, "readyz 200", func() bool { c, _ := get(t, adminURL(srv, "/readyz")); return c == 200 })
}

// tokensSeen are the x-auth-token values of the requests an emulator saw outside the token path.
func tokensSeen(em *emulator.Server) map[string]bool {
	seen := map[string]bool{}
	for _, a := range em.Requests() {
		if tok := a.Header.Get("x-auth-token"); tok != "" {
			seen[tok] = true
		}
	}
	return seen
}

// TestRoutesReachTheirOwnUpstream: two dbaas routes on two ports, two emulators (two accounts,
// two keys): each route reaches only its own upstream with its own identity's token; a reload
// after rotating one identity's key changes only that identity's token.
func TestRoutesReachTheirOwnUpstream(t *testing.T) {
	dir := testkit.TempDir(t)
	emA, caA := startEmulator(t, dir, "a", emulator.Options{})
	emB, caB := startEmulator(t, dir, "b", emulator.Options{})
	keyA := testkit.WriteFile(t, dir, "a.key", emA.APIKey())
	keyB := testkit.WriteFile(t, dir, "b.key", emB.APIKey())
	cfg := routesConfig([]config.Identity{dbaasIdentity("ida", keyA), dbaasIdentity("idb", keyB)},
		routeTo("dallas", emA.URL(), caA, "ida"), routeTo("frankfurt", emB.URL(), caB, "idb"))
	srv, logs := serveConfig(t, cfg)
	waitReady(t, srv)
	for _, r := range []struct {
		name string
		em   *emulator.Server
	}{{"dallas", emA}, {"frankfurt", emB}} {
		if code, body := get(t, routeURL(srv, r.name, "/api/v3/me/services")); code != 200 {
			t.Fatalf("%s: %d %s", r.name, code, body)
		}
		if c := r.em.Counters(); c.TokenExchanges != 1 || c.TokenRejected != 0 {
			t.Errorf("%s's emulator: %+v, want one exchange and no rejected key", r.name, c)
		}
	}
	seenA, seenB := tokensSeen(emA), tokensSeen(emB)
	for tok := range seenA {
		if seenB[tok] {
			t.Error("both upstreams saw the same token")
		}
	}
	if !strings.Contains(logs.String(), `"route":"frankfurt"`) {
		t.Error("no access line names the route frankfurt")
	}
	if code, page := get(t, adminURL(srv, "/")); code != 200 || !strings.Contains(page, "<td>frankfurt</td>") || !strings.Contains(page, "<td>ida</td>") {
		t.Errorf("the status page (%d) does not show each route and identity", code)
	}
	checkMetrics(t, srv, `route="dallas"`, `route="frankfurt"`, `dbaas_proxy_token_expiry_seconds{identity="ida"}`,
		`dbaas_proxy_token_exchanges_total{identity="idb",result="ok",source="dbaas"} 1`)

	// Rotate ida's key: only ida's token changes.
	before := map[string]string{}
	for _, id := range srv.identities {
		before[id.cfg.IdentityName] = id.tokens.Status().Fingerprint
	}
	newKey := strings.Repeat("k", 44)
	emA.AddAPIKey(newKey, emA.UserID())
	testkit.WriteFile(t, dir, "a.key", newKey)
	srv.Reload()
	ida := srv.routes[0].ident
	eventually(t, "a new token for ida", func() bool { return ida.tokens.Status().Fingerprint != before["ida"] })
	if code, _ := get(t, routeURL(srv, "dallas", "/api/v3/me/services")); code != 200 {
		t.Fatalf("dallas after the rotation: %d", code)
	}
	for _, id := range srv.identities {
		changed := id.tokens.Status().Fingerprint != before[id.cfg.IdentityName]
		if changed != (id.cfg.IdentityName == "ida") {
			t.Errorf("identity %s: token changed %v", id.cfg.IdentityName, changed)
		}
	}
}

// checkMetrics scrapes /metrics, lints it as promtool check metrics does, and looks for want.
func checkMetrics(t *testing.T, srv *Server, want ...string) {
	t.Helper()
	code, body := get(t, adminURL(srv, "/metrics"))
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", err, problems)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics holds no %s", w)
		}
	}
}

// TestRoutesShareAnIdentity: two routes with the same identity and token endpoint cause one
// exchange, not two.
func TestRoutesShareAnIdentity(t *testing.T) {
	dir := testkit.TempDir(t)
	em, ca := startEmulator(t, dir, "a", emulator.Options{})
	key := testkit.WriteFile(t, dir, "a.key", em.APIKey())
	cfg := routesConfig([]config.Identity{dbaasIdentity("ops", key)},
		routeTo("one", em.URL(), ca, "ops"), routeTo("two", em.URL(), ca, "ops"))
	srv, _ := serveConfig(t, cfg)
	waitReady(t, srv)
	for _, name := range []string{"one", "two"} {
		if code, body := get(t, routeURL(srv, name, "/api/v3/me/services")); code != 200 {
			t.Fatalf("%s: %d %s", name, code, body)
		}
	}
	if n := em.Counters().TokenExchanges; n != 1 || len(srv.identities) != 1 {
		t.Errorf("%d exchanges, %d caches; want 1 and 1", n, len(srv.identities))
	}
}

// TestReadyzNamesTheRoute: with one route's key rejected, /readyz is 503 and names that
// route; /readyz?route=ok-route is 200.
func TestReadyzNamesTheRoute(t *testing.T) {
	dir := testkit.TempDir(t)
	em, ca := startEmulator(t, dir, "a", emulator.Options{})
	good := testkit.WriteFile(t, dir, "good.key", em.APIKey())
	bad := testkit.WriteFile(t, dir, "bad.key", strings.Repeat("x", 44))
	cfg := routesConfig([]config.Identity{dbaasIdentity("good", good), dbaasIdentity("bad", bad)},
		routeTo("ok-route", em.URL(), ca, "good"), routeTo("bad-route", em.URL(), ca, "bad"))
	srv, _ := serveConfig(t, cfg)
	eventually(t, "ok-route ready", func() bool {
		c, _ := get(t, adminURL(srv, "/readyz?route=ok-route"))
		return c == 200
	})
	eventually(t, "the bad key rejected", func() bool { return em.Counters().TokenRejected > 0 })
	code, body := get(t, adminURL(srv, "/readyz"))
	if code != 503 || !strings.Contains(body, "bad-route") {
		t.Errorf("/readyz = %d %q, want 503 naming bad-route", code, body)
	}
	if code, body := get(t, adminURL(srv, "/readyz?route=nope")); code != 503 || !strings.Contains(body, "nope") {
		t.Errorf("/readyz?route=nope = %d %q", code, body)
	}
}

// TestGenericRoute: a generic route forwards every path byte for byte with Authorization:
// Bearer and an IAM token, the DBaaS token path included, and answers nothing locally.
func TestGenericRoute(t *testing.T) {
	dir := testkit.TempDir(t)
	em, _ := startEmulator(t, dir, "a", emulator.Options{SeparateIAM: true})
	iamCA := filepath.Join(dir, "iam-ca.pem")
	if err := em.WriteIAMCAFile(iamCA); err != nil {
		t.Fatal(err)
	}
	key := testkit.WriteFile(t, dir, "a.key", em.APIKey())
	backendURL, backendCA, arrivals := startBackend(t, dir)
	ops := config.Identity{Name: "ops", AuthConfig: config.AuthConfig{Source: config.SourceIAM, IAMURL: em.IAMURL(),
		IAMCAFile: iamCA, APIKeyFile: key}}
	r := routeTo("icd", backendURL, backendCA, "ops")
	r.Upstream.API = config.APIGeneric
	srv, _ := serveConfig(t, routesConfig([]config.Identity{ops}, r))
	waitReady(t, srv)
	for _, path := range []string{"/v5/ibm/deployments?x=1", "/", "/api/v1/auth/token", "/a//b/%2F?y=%41"} {
		code, body := get(t, routeURL(srv, "icd", path))
		if code != 200 || body != "backend" {
			t.Fatalf("GET %s: %d %q", path, code, body)
		}
		got := <-arrivals
		if got.uri != path {
			t.Errorf("backend saw %q, want %q", got.uri, path)
		}
		if !strings.HasPrefix(got.auth, "Bearer ") || len(got.auth) < 20 {
			t.Errorf("GET %s: Authorization %q, want a bearer token", path, got.auth)
		}
	}
	if n := em.Counters().IAMExchanges; n != 1 {
		t.Errorf("%d IAM exchanges, want 1", n)
	}
}

type arrival struct{ uri, auth string }

// startBackend starts a generic TLS backend that answers "backend" and reports each request.
func startBackend(t *testing.T, dir string) (url, caFile string, arrivals chan arrival) {
	t.Helper()
	ca := testkit.NewCA(t, "backend CA")
	caFile, _ = ca.Write(t, dir, "backend-ca")
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "127.0.0.1", true).TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	arrivals = make(chan arrival, 16)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrivals <- arrival{uri: r.RequestURI, auth: r.Header.Get("Authorization")}
		io.WriteString(w, "backend")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "https://" + l.Addr().String(), caFile, arrivals
}

// TestGatewayIdentities: in gateway mode two clients with two identities (two keys of two
// accounts at one upstream): the upstream saw each client's requests with its own identity's
// token only, under 32 concurrent requests each and across 401 replays.
func TestGatewayIdentities(t *testing.T) {
	dir := testkit.TempDir(t)
	em, ca := startEmulator(t, dir, "a", emulator.Options{})
	const otherUser = "0123456789abcdef0123456789abcdef"
	otherKey := strings.Repeat("r", 44)
	em.AddAPIKey(otherKey, otherUser)
	cfg := routesConfig([]config.Identity{
		dbaasIdentity("ops", testkit.WriteFile(t, dir, "ops.key", em.APIKey())),
		dbaasIdentity("readers", testkit.WriteFile(t, dir, "readers.key", otherKey)),
	}, routeTo("gw", em.URL(), ca, "ops"))
	cfg.Inbound.Clients = []inbound.Client{
		{Name: "ci", TokenSHA256: inbound.HashToken("ci-token-0123456789"), Identity: "readers"},
		{Name: "cd", TokenSHA256: inbound.HashToken("cd-token-0123456789")},
	}
	srv, logs := serveConfig(t, cfg)
	waitReady(t, srv)
	clients := map[string]string{"ci-token-0123456789": otherUser, "cd-token-0123456789": em.UserID()}
	for round := 0; round < 2; round++ {
		if round == 1 {
			em.RevokeAll() // every token now gets 401: each identity's cache must replay with its own
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for token, user := range clients {
			for i := 0; i < 32; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- gatewayGet(srv, token, user)
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	for _, a := range em.Requests() {
		if a.Path == "/api/v1/auth/token" {
			continue
		}
		client := a.Header.Get("X-Client")
		if want := clients[client]; want == "" || !strings.Contains(a.Path, want) {
			t.Errorf("client %.2s: the upstream saw %s", client, a.Path)
		}
		if a.Header.Get("Authorization") != "" {
			t.Error("the client's Authorization reached the upstream")
		}
	}
	for _, secret := range []string{"ci-token-0123456789", "cd-token-0123456789", em.APIKey(), otherKey} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret (%.4s...)", secret)
		}
	}
}

// gatewayGet sends GET /api/v3/me/services as the client of token and checks that it reached
// the account user.
func gatewayGet(srv *Server, token, user string) error {
	req, _ := http.NewRequest(http.MethodGet, routeURL(srv, "gw", "/api/v3/me/services"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Client", token)
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("client %.2s: %d %s", token, resp.StatusCode, body)
	}
	return nil
}

// TestTokenTrafficApartFromThePool: with every upstream connection (max_conns 1) held by a
// slow download, a token exchange still happens at once: token traffic has its own transport.
func TestTokenTrafficApartFromThePool(t *testing.T) {
	h := newHarness(t, Options{}, func(c *config.Config) { c.Upstream.MaxConns = 1 })
	h.serve(t)
	h.ready(t)
	h.em.SetFault("/api/v3/"+h.em.UserID()+"/slow", emulator.Fault{Latency: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url("/api/v3/"+h.em.UserID()+"/slow"), nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	defer func() { cancel(); <-done; http.DefaultClient.CloseIdleConnections() }()
	eventually(t, "the slow request upstream", func() bool { return len(h.arrivals("/api/v3/"+h.em.UserID()+"/slow")) == 1 })
	before := h.em.Counters().TokenExchanges
	h.srv.routes[0].ident.tokens.Reset()
	eventually(t, "a token exchange beside the held connection", func() bool { return h.em.Counters().TokenExchanges > before })
}

// TestRouteErrorsNameRouteAndIdentity: a missing file of a route or an identity is an error
// that names the route and the identity.
func TestRouteErrorsNameRouteAndIdentity(t *testing.T) {
	dir := testkit.TempDir(t)
	em, ca := startEmulator(t, dir, "a", emulator.Options{})
	cfg := routesConfig([]config.Identity{dbaasIdentity("ops", filepath.Join(dir, "missing.key"))}, routeTo("dallas", em.URL(), ca, "ops"))
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "route dallas: identity ops: auth.api_key_file: cannot read") {
		t.Errorf("New = %v", err)
	}
}

// TestRoutesStopAcceptingTogether: at shutdown every route stops accepting at once, while a
// request in flight on another route drains.
func TestRoutesStopAcceptingTogether(t *testing.T) {
	dir := testkit.TempDir(t)
	em, ca := startEmulator(t, dir, "a", emulator.Options{})
	key := testkit.WriteFile(t, dir, "a.key", em.APIKey())
	cfg := routesConfig([]config.Identity{dbaasIdentity("ops", key)}, routeTo("one", em.URL(), ca, "ops"), routeTo("two", em.URL(), ca, "ops"))
	cfg.ShutdownTimeout = time.Minute
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	waitReady(t, srv)
	slow := "/api/v3/" + em.UserID() + "/slow"
	em.SetFault(slow, emulator.Fault{Latency: time.Minute})
	reqCtx, stopReq := context.WithCancel(context.Background())
	inFlight := make(chan struct{})
	go func() {
		defer close(inFlight)
		req, _ := http.NewRequestWithContext(reqCtx, http.MethodGet, routeURL(srv, "one", slow), nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	defer func() { stopReq(); <-inFlight; http.DefaultClient.CloseIdleConnections() }()
	eventually(t, "the slow request upstream", func() bool {
		for _, a := range em.Requests() {
			if a.Path == slow {
				return true
			}
		}
		return false
	})
	two := srv.RouteAddr("two").String()
	cancel()
	eventually(t, "route two refusing connections while route one drains", func() bool {
		c, err := net.DialTimeout("tcp", two, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case <-inFlight:
		t.Error("the request in flight on route one was cut")
	default:
	}
}

// TestSetClientsRefusesANewIdentity: client lists read again on SIGHUP may not give a client an
// identity the server has no cache for (it would silently act as the route's identity).
func TestSetClientsRefusesANewIdentity(t *testing.T) {
	dir := testkit.TempDir(t)
	em, ca := startEmulator(t, dir, "a", emulator.Options{})
	key := testkit.WriteFile(t, dir, "a.key", em.APIKey())
	cfg := routesConfig([]config.Identity{dbaasIdentity("ops", key), dbaasIdentity("readers", key)}, routeTo("gw", em.URL(), ca, "ops"))
	cfg.Inbound.Clients = []inbound.Client{{Name: "ci", TokenSHA256: inbound.HashToken("ci-token-0123456789")}}
	srv, _ := serveConfig(t, cfg)
	next := *cfg
	next.Inbound.Clients = []inbound.Client{{Name: "ci", TokenSHA256: inbound.HashToken("ci-token-0123456789"), Identity: "readers"}}
	if err := srv.SetClients(&next); err == nil || !strings.Contains(err.Error(), "takes a restart") {
		t.Errorf("SetClients = %v", err)
	}
}
