package admin

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	recent.Add(&proxy.Record{Time: t0.Add(-time.Second), Method: http.MethodGet, Path: lastPath, Status: 200,
		Duration: 42 * time.Millisecond, ClientName: "ci-runner"})
	opts := baseOptions()
	opts.Recent = recent
	opts.Counts = func() map[string]int64 { return map[string]int64{"2xx": 1} }
	srv := serve(t, opts)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel) // after the browser's own cleanup, so that it closes gracefully
	browserCtx := headless.Browser(t, ctx, 1280, 900)

	if err := chromedp.Do(browserCtx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token-state")),
	); err != nil {
		t.Fatalf("load the status page: %v", err)
	}
	assertRenderedPage(t, browserCtx, lastPath)
	png, err := chromedp.Run(browserCtx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(testkit.TempDir(t), "status-page.png")
	if err := os.WriteFile(shot, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
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
