package admin

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit/headless"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// TestStatusPageInBrowser loads the status page in headless Chromium, as a person would see it,
// and saves a screenshot.
func TestStatusPageInBrowser(t *testing.T) {
	headless.RequireChromium(t)
	recent := NewRecent(50)
	lastPath := "/api/v3/" + fakeUserID + "/clusters/c-42/databases"
	for i := 119; i >= 0; i-- { // a busy quarter of an hour, with errors in its last minutes
		rec := &proxy.Record{Time: t0.Add(-time.Duration(i*7) * time.Second), Method: http.MethodGet,
			Path: "/api/v3/" + fakeUserID + "/services", Status: 200, Duration: 12 * time.Millisecond}
		if i%9 == 1 && i < 30 {
			rec.Status, rec.Error = 502, "bad gateway: the upstream dbaas900.hyperp-dbaas.cloud.ibm.com:20000 refused the connection"
		}
		recent.Add(rec)
	}
	recent.Add(&proxy.Record{Time: t0.Add(-time.Second), Method: http.MethodGet, Path: lastPath, Status: 200,
		Duration: 42 * time.Millisecond, ClientName: "ci-runner"})
	opts := baseOptions()
	opts.Recent = recent
	now := t0.Add(-3 * time.Second)
	opts.Health = NewHealth(nil, func() time.Time { return now }, "default")
	for range 2 {
		opts.Health.Observe("default", &proxy.Record{Status: 502, Fault: "refused", Error: "bad gateway: the upstream refused the connection"})
	}
	opts.ProxyListen, opts.Credential = "127.0.0.1:20000", "file /etc/dbaas-proxy/apikey.json"
	srv := serve(t, opts)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel) // after the browser's own cleanup, so that it closes gracefully
	browserCtx := headless.Browser(t, ctx, 1280, 900)

	watchCSP := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.cspViolations = [];
				document.addEventListener("securitypolicyviolation", e => window.cspViolations.push(e.violatedDirective));`})
		return err
	})
	if err := chromedp.Do(browserCtx,
		watchCSP,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token-state")),
	); err != nil {
		t.Fatalf("load the status page: %v", err)
	}
	assertRenderedPage(t, browserCtx, lastPath)
	assertCharts(t, browserCtx)
	png, err := chromedp.Run(browserCtx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(testkit.TempDir(t), "status-page.png")
	if err := os.WriteFile(shot, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	if out := os.Getenv("STATUS_PAGE_PNG"); out != "" { // docs/status-page.png, by hand
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// assertCharts checks that the charts show bars of the right heights, the upstream is shown
// down, and the CSP refused nothing.
func assertCharts(t *testing.T, browserCtx context.Context) {
	t.Helper()
	bars, err := chromedp.Run(browserCtx, chromedp.Evaluate[[]float64](
		`[...document.querySelectorAll("#rate-chart rect.pt")].map(r => r.getBBox().height)`))
	if err != nil || len(bars) != 15 || slices.Max(bars) != 40 {
		t.Errorf("rate chart bars %v (%v): want 15, the highest 40", bars, err)
	}
	errBars, err := chromedp.Run(browserCtx, chromedp.Evaluate[[]float64](
		`[...document.querySelectorAll("#error-chart rect.pt")].map(r => r.getBBox().height)`))
	if err != nil || len(errBars) != 15 || slices.Max(errBars) == 0 {
		t.Errorf("error chart bars %v (%v)", errBars, err)
	}
	health, err := chromedp.Run(browserCtx, chromedp.Text(chromedp.ID("upstream-health")))
	if err != nil || !strings.Contains(health, "unreachable since") || !strings.Contains(health, "refused") {
		t.Errorf("#upstream-health %q (%v)", health, err)
	}
	violations, err := chromedp.Run(browserCtx, chromedp.Evaluate[[]string](`window.cspViolations`))
	if err != nil || len(violations) > 0 {
		t.Errorf("CSP violations: %v (%v)", violations, err)
	}
}

// assertRenderedPage checks what the browser shows of the status page.
func assertRenderedPage(t *testing.T, browserCtx context.Context, lastPath string) {
	t.Helper()
	tokenText, err := chromedp.Run(browserCtx, chromedp.Text(chromedp.ID("token-state")))
	if err != nil {
		t.Fatalf("read #token-state: %v", err)
	}
	for _, want := range []string{"expires in 30m0s", "a1b2c3d4e5f6"} {
		if !strings.Contains(tokenText, want) {
			t.Errorf("#token-state %q lacks %q", tokenText, want)
		}
	}
	userText, err := chromedp.Run(browserCtx, chromedp.Text(chromedp.ID("user-id")))
	if err != nil || !strings.Contains(userText, fakeUserID) {
		t.Errorf("#user-id %q (%v) lacks the user id", userText, err)
	}
	requestsText, err := chromedp.Run(browserCtx, chromedp.Text(chromedp.ID("last-requests")))
	if err != nil || !strings.Contains(requestsText, lastPath) || !strings.Contains(requestsText, "ci-runner") {
		t.Errorf("#last-requests %q (%v) lacks the last request", requestsText, err)
	}
	// The inline style sheet applies only if the CSP admits it by hash: the badge is then a pill.
	radius, err := chromedp.Run(browserCtx, chromedp.Evaluate[string](
		`getComputedStyle(document.getElementById("readiness")).borderTopLeftRadius`))
	if err != nil || radius != "999px" {
		t.Errorf("the style sheet did not apply (border radius %q, %v): the CSP blocks it", radius, err)
	}
}
