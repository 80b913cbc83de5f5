package admin

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// chromiumPath is where the CI image and the development machine install the browser.
const chromiumPath = "/usr/bin/chromium"

// TestStatusPageInBrowser loads the status page in headless Chromium, as a person would see it,
// and saves a screenshot.
func TestStatusPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is missing: %v", chromiumPath, err)
		}
		t.Skipf("%s is missing: %v", chromiumPath, err)
	}
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
	browserCtx := startBrowser(t, ctx)

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
	shot := filepath.Join(t.TempDir(), "status-page.png")
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

// startBrowser starts headless Chromium with a fresh profile and stops it (and removes the
// profile) when the test ends.
func startBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	profile := filepath.Join(t.TempDir(), "chromium-profile")
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close the browser gracefully, then make sure its process is gone.
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := chromedp.Cancel(browserCtx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("close the browser: %v", err)
		}
		cancelBrowser()
		cancelAlloc() // kills the process if it still runs and waits for it
		removeProfile(stopCtx, t, profile)
	})
	return browserCtx
}

// removeProfile deletes the browser profile. Chromium's helper processes may still write into it
// for a moment after the browser stops, so it tries again for a while.
func removeProfile(ctx context.Context, t *testing.T, dir string) {
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("remove the browser profile: %v", err)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
