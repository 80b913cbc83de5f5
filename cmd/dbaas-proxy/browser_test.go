package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit/headless"
)

// attackPage is a web page of another origin that calls the proxy as a hostile (or, with the
// origin allowed, a trusted) page would: a no-cors POST (a "simple" request the browser sends
// without asking), a CORS GET, and a CORS GET with a custom header, which needs a preflight. It
// reads the proxy's address from ?proxy= and, unless ?post=0, makes the POST. The results go
// to window.results and #log; #done appears when all calls have ended.
const attackPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>dbaas-proxy browser test</title></head>
<body><h1>Calls to dbaas-proxy from another origin</h1><pre id="log">running</pre>
<script>
const q = new URLSearchParams(location.search);
const url = "http://" + q.get("proxy") + "/api/v3/me/services";
window.results = {};
async function attempt(name, call) {
  try {
    const r = await call();
    const res = {type: r.type, status: r.status, requestId: r.headers.get("X-Request-Id") || ""};
    if (r.type !== "opaque") { res.body = await r.text(); }
    window.results[name] = res;
  } catch (e) {
    window.results[name] = {error: String(e)};
  }
}
(async () => {
  if (q.get("post") !== "0") {
    await attempt("noCorsPost", () => fetch(url, {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "text/plain"}, body: "x"}));
  }
  await attempt("corsGet", () => fetch(url, {mode: "cors"}));
  await attempt("preflightedGet", () => fetch(url, {mode: "cors", headers: {"X-Client": "browser-test"}}));
  document.getElementById("log").textContent = JSON.stringify(window.results, null, 2);
  const done = document.createElement("p");
  done.id = "done";
  done.textContent = "done";
  document.body.appendChild(done);
})();
</script></body></html>`

// fetchResult is what the page saw of one call.
type fetchResult struct {
	Type      string `json:"type"`
	Status    int    `json:"status"`
	RequestID string `json:"requestId"`
	Body      string `json:"body"`
	Error     string `json:"error"`
}

// TestBrowserCannotUseProxy loads pages of two other origins in headless Chromium: one the
// proxy does not trust, whose calls must be refused before they reach the upstream, and one in
// inbound.allowed_origins, which must be able to read the answers (CORS).
func TestBrowserCannotUseProxy(t *testing.T) {
	headless.RequireChromium(t)
	page := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, attackPage)
	}
	hostile := httptest.NewServer(http.HandlerFunc(page))
	t.Cleanup(hostile.Close)
	trusted := httptest.NewServer(http.HandlerFunc(page))
	t.Cleanup(trusted.Close)
	e := newEnv(t, "inbound:\n  allowed_origins: ['"+trusted.URL+"']\n")
	p := start(t, nil, "-config", e.config)
	e.ready(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel) // after the browser's own cleanup, so that it closes gracefully
	b := &browserRun{e: e, p: p, ctx: headless.Browser(t, ctx, 1024, 600)}

	t.Run("page of another origin", func(t *testing.T) {
		res, reached, lines := b.visit(t, hostile.URL+"/?proxy="+e.listen, "hostile")
		if reached != 0 {
			t.Errorf("%d requests of the page reached the emulator", reached)
		}
		if r := res["noCorsPost"]; r.Type != "opaque" {
			t.Errorf("no-cors POST: %+v, want an opaque answer (sent, unreadable)", r)
		}
		for _, name := range []string{"corsGet", "preflightedGet"} {
			if r := res[name]; r.Error == "" {
				t.Errorf("%s: %+v, want a CORS failure", name, r)
			}
		}
		// The POST, the CORS GET and the preflight of the other GET, which never left the
		// browser, were all answered 403.
		if want := "map[GET:[403] OPTIONS:[403] POST:[403]]"; fmt.Sprint(lines) != want {
			t.Errorf("access lines (method: statuses) %v, want %s", lines, want)
		}
	})

	t.Run("page of an allowed origin", func(t *testing.T) {
		res, reached, lines := b.visit(t, trusted.URL+"/?post=0&proxy="+e.listen, "trusted")
		if reached != 2 {
			t.Errorf("%d requests reached the emulator, want the 2 GETs", reached)
		}
		for _, name := range []string{"corsGet", "preflightedGet"} {
			r := res[name]
			if r.Error != "" || r.Type != "cors" || r.Status != http.StatusOK || r.RequestID == "" ||
				!strings.Contains(r.Body, `"services"`) {
				t.Errorf("%s: %+v, want a readable 200 with the services and X-Request-Id", name, r)
			}
		}
		if want := "map[GET:[200 200] OPTIONS:[204]]"; fmt.Sprint(lines) != want {
			t.Errorf("access lines (method: statuses) %v, want %s (the preflight answered by the proxy)", lines, want)
		}
		if a := secLastArrival(t, e.em, "/api/v3/"+e.em.UserID()+"/services"); a.Header.Get("X-Client") != "browser-test" {
			t.Errorf("the preflighted GET arrived without its X-Client header: %v", a.Header)
		}
	})
}

// browserRun is the proxy and the browser of TestBrowserCannotUseProxy.
type browserRun struct {
	e   *env
	p   *proc
	ctx context.Context // the browser's
}

// visit runs the page at url (see runPage) and returns what it saw, how many requests reached
// the emulator meanwhile, and the statuses of the access lines for the page's path, by method.
func (b *browserRun) visit(t *testing.T, url, name string) (map[string]fetchResult, int64, map[string][]int) {
	t.Helper()
	before, logStart := b.e.em.Counters().Requests, len(b.p.stderr.String())
	res := runPage(t, b.ctx, url, name)
	reached := b.e.em.Counters().Requests - before
	lines := map[string][]int{}
	for _, l := range secLogLines(t, b.p.stderr.String()[logStart:], "request") {
		if l["path"] == "/api/v3/me/services" {
			m, _ := l["method"].(string)
			status, _ := l["status"].(float64)
			lines[m] = append(lines[m], int(status))
		}
	}
	return res, reached, lines
}

// runPage loads url, waits for the page's calls to end, saves a screenshot named name and
// returns what the page saw.
func runPage(t *testing.T, browserCtx context.Context, url, name string) map[string]fetchResult {
	t.Helper()
	if err := chromedp.Do(browserCtx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	raw, err := chromedp.Run(browserCtx, chromedp.Evaluate[[]byte](`window.results`))
	if err != nil {
		t.Fatalf("read the results: %v", err)
	}
	var res map[string]fetchResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("results %s: %v", raw, err)
	}
	for call, r := range res {
		t.Logf("%s page, %s: type %q, status %d, error %q, %d bytes read", name, call, r.Type, r.Status, r.Error, len(r.Body))
	}
	png, err := chromedp.Run(browserCtx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(testkit.TempDir(t), name+".png")
	if err := os.WriteFile(shot, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	return res
}
