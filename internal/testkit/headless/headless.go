// Package headless starts Debian's headless Chromium for browser tests, with a fresh profile
// and the flags this machine's closed network needs, and stops it when the test ends. It is a
// package of its own so that only the tests that drive a browser compile chromedp.
package headless

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// chromiumPath is where the CI image and the development machine install the browser.
const chromiumPath = "/usr/bin/chromium"

// RequireChromium skips the test when Chromium is not installed, or fails it when the
// environment variable CI is set, since the CI image must have it. On Windows it skips: the
// browser is Debian's, which a Windows test binary cannot start (.ci/windows runs them under
// wine). Browser calls it too; a test calls it first to skip before any costly set-up.
func RequireChromium(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skipf("no Windows Chromium: the browser tests drive Debian's %s, which a Windows test binary cannot start", chromiumPath)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is missing: %v", chromiumPath, err)
		}
		t.Skipf("%s is missing: %v", chromiumPath, err)
	}
}

// Browser starts headless Chromium with a fresh profile and a window of width by height pixels,
// and returns the context to run chromedp actions in. When the test ends it closes the browser,
// makes sure its process is gone and removes the profile. Cancelling ctx kills the browser: a
// caller that registers ctx's cancel with t.Cleanup before calling Browser lets it close
// gracefully first. Like RequireChromium, it skips or fails the test when Chromium is missing.
func Browser(t testing.TB, ctx context.Context, width, height int) context.Context {
	t.Helper()
	RequireChromium(t)
	profile := filepath.Join(testkit.TempDir(t), "chromium-profile")
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
		chromedp.WindowSize(width, height),
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
func removeProfile(ctx context.Context, t testing.TB, dir string) {
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
