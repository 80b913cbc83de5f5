package tokensource

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// pacedRig is a Cached over a fakeSource on a fake clock that counts suppressed exchanges.
type pacedRig struct {
	clock      *fakeClock
	src        *fakeSource
	c          *Cached
	logs       *testkit.SyncBuffer
	mu         sync.Mutex
	suppressed []string
}

func newPacedRig(t *testing.T, interval time.Duration) *pacedRig {
	t.Helper()
	r := &pacedRig{clock: newFakeClock(), logs: &testkit.SyncBuffer{}}
	r.src = newFakeSource(r.clock.Now, time.Hour)
	opts := exactOptions(r.clock)
	opts.MinRefreshInterval = interval
	opts.Logger = zerolog.New(r.logs)
	opts.OnSuppressed = func(cause string) { r.mu.Lock(); r.suppressed = append(r.suppressed, cause); r.mu.Unlock() }
	r.c = NewCached(r.src, opts)
	t.Cleanup(r.c.Close)
	return r
}

func (r *pacedRig) causes() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.suppressed, ",")
}

// current returns the token held, fetching one if none is.
func (r *pacedRig) current(t *testing.T) Token {
	t.Helper()
	tok, err := r.c.Token(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestInvalidatePaced: invalidations that would start an exchange get a burst of two, then
// one per MinRefreshInterval on the Cached's clock; a suppressed one keeps the token.
func TestInvalidatePaced(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		step     time.Duration // clock advance before each invalidation
		want     string        // per invalidation: d dropped, k kept; | is ten idle minutes
	}{
		{"default 30s: burst of two", 0, 0, "ddkkk"},
		{"default 30s: ten idle minutes refill two, not more", 0, 0, "ddk|ddkk"},
		{"default 30s: one per 30s after the burst", 0, 15 * time.Second, "dddkdkd"},
		{"10s", 10 * time.Second, 10 * time.Second, "ddddd"},
		{"negative: unlimited", -1, 0, "dddddddddd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPacedRig(t, tt.interval)
			var got strings.Builder
			kept := 0
			for _, step := range tt.want {
				if step == '|' {
					got.WriteRune(step)
					r.clock.Advance(10 * time.Minute)
					continue
				}
				r.clock.Advance(tt.step)
				tok := r.current(t)
				if r.c.Invalidate(tok) {
					got.WriteByte('d')
					continue
				}
				got.WriteByte('k')
				kept++
				if st := r.c.Status(); !st.HasToken || st.Fingerprint != tok.Fingerprint() {
					t.Fatalf("a suppressed invalidation dropped the token")
				}
			}
			r.current(t) // the exchange after the last drop
			if got.String() != tt.want {
				t.Errorf("invalidations %s, want %s", got.String(), tt.want)
			}
			if want := strings.TrimSuffix(strings.Repeat("invalidate,", kept), ","); r.causes() != want {
				t.Errorf("OnSuppressed got %q, want %q", r.causes(), want)
			}
			if drops := strings.Count(tt.want, "d"); r.src.Calls() != 1+drops {
				t.Errorf("%d exchanges, want %d", r.src.Calls(), 1+drops)
			}
		})
	}
}

// TestInvalidateOfAnOldTokenIsFree: rejections of a token that is no longer current start no
// exchange, take nothing of the budget and allow the replay.
func TestInvalidateOfAnOldTokenIsFree(t *testing.T) {
	r := newPacedRig(t, 0)
	old := r.current(t)
	r.c.Invalidate(old) // the first of the burst
	for range 10 {
		r.current(t)
		if !r.c.Invalidate(old) {
			t.Fatal("the rejection of an older token refused a replay")
		}
	}
	if !r.c.Invalidate(r.current(t)) {
		t.Fatal("the budget was taken by rejections of an older token")
	}
	r.current(t)
	if n := r.src.Calls(); n != 3 || r.causes() != "" {
		t.Errorf("%d exchanges, suppressed %q; want 3 and none", n, r.causes())
	}
}

// TestRefreshPaced: admin refreshes share the budget; a refused one says when to retry, and
// neither Reset nor the background refresh before expiry is paced.
func TestRefreshPaced(t *testing.T) {
	r := newPacedRig(t, 0)
	r.current(t)
	for i := range 2 {
		if err := r.c.Refresh(); err != nil {
			t.Fatalf("refresh %d: %v; want started", i+1, err)
		}
		eventually(t, "the refresh", func() bool { return r.c.Status().Exchanges == int64(i+2) })
	}
	for _, tt := range []struct {
		advance time.Duration
		want    time.Duration
	}{{0, 30 * time.Second}, {10 * time.Second, 20 * time.Second}, {19500 * time.Millisecond, time.Second}} {
		r.clock.Advance(tt.advance)
		err := r.c.Refresh()
		var rl *RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != tt.want || !strings.Contains(err.Error(), "auth.min_refresh_interval") {
			t.Fatalf("refresh after the burst: %v; want a *RateLimitedError retrying after %v", err, tt.want)
		}
	}
	r.clock.Advance(500 * time.Millisecond)
	if err := r.c.Refresh(); err != nil {
		t.Fatalf("refresh 30 s after the burst: %v; want started", err)
	}
	eventually(t, "the refresh", func() bool { return r.c.Status().Exchanges == 4 })
	if r.causes() != "refresh,refresh,refresh" {
		t.Errorf("OnSuppressed got %q", r.causes())
	}

	if r.c.Invalidate(r.current(t)) { // the budget is spent
		t.Fatal("the invalidation was not suppressed")
	}
	r.c.Reset()
	eventually(t, "the exchange of Reset", func() bool { return r.c.Status().Exchanges == 5 && r.c.Status().HasToken })
	r.c.Start()
	call := r.clock.waitAfter(t, 1)
	r.clock.Advance(call.d)
	r.clock.fire(call)
	eventually(t, "the background refresh", func() bool { return r.c.Status().Exchanges == 6 })
}

// TestSuppressedLogIsRateLimited: one warning per MinRefreshInterval at most, counting what
// was suppressed since the last one.
func TestSuppressedLogIsRateLimited(t *testing.T) {
	r := newPacedRig(t, 0)
	for range 2 {
		r.c.Invalidate(r.current(t))
	}
	tok := r.current(t)
	for range 5 {
		r.c.Invalidate(tok)
	}
	r.clock.Advance(20 * time.Second)
	r.c.Invalidate(tok) // the budget refilled by 2/3 only: suppressed, not logged
	r.clock.Advance(10 * time.Second)
	if err := r.c.Refresh(); err != nil { // a full 30 s: takes the refilled exchange
		t.Fatalf("Refresh: %v", err)
	}
	eventually(t, "the refresh", func() bool { return r.c.Status().Exchanges == 4 })
	tok = r.current(t)
	r.c.Invalidate(tok) // suppressed and logged, with the six before it
	lines := strings.Split(strings.TrimSpace(r.logs.String()), "\n")
	var warns []string
	for _, l := range lines {
		if strings.Contains(l, `"level":"warn"`) && strings.Contains(l, "suppressed") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 2 || !strings.Contains(warns[0], `"suppressed":1`) || !strings.Contains(warns[1], `"suppressed":6`) ||
		!strings.Contains(warns[1], `"cause":"invalidate"`) {
		t.Errorf("warnings:\n%s\nwant two, counting 1 and then 6", strings.Join(warns, "\n"))
	}
}

// TestTransportSuppressedInvalidationIsNotReplayed: once the budget is spent, a rejection
// keeps the token and reaches the client as the upstream sent it, with no replay.
func TestTransportSuppressedInvalidationIsNotReplayed(t *testing.T) {
	var n atomic.Int64
	up := newUpstream(t, func(string) int { n.Add(1); return http.StatusUnauthorized })
	r := newPacedRig(t, 0)
	r.current(t)
	tr := &Transport{Cache: r.c, Base: up.srv.Client().Transport}
	wantRequests := []int64{2, 4, 5} // two replayed requests use the burst; the third is not replayed
	for i, want := range wantRequests {
		req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, up.srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || string(body) != "upstream answered Unauthorized" || n.Load() != want {
			t.Fatalf("request %d: %d %q after %d upstream requests, want the upstream's 401 after %d", i+1, resp.StatusCode, body, n.Load(), want)
		}
	}
	if st := r.c.Status(); !st.HasToken || r.src.Calls() != 3 || r.causes() != "invalidate" {
		t.Errorf("has token %v, %d exchanges, suppressed %q; want the token kept, 3, one invalidate", st.HasToken, r.src.Calls(), r.causes())
	}
}

// TestRateLimitedErrorMessage: the message says why and when.
func TestRateLimitedErrorMessage(t *testing.T) {
	err := &RateLimitedError{RetryAfter: 12 * time.Second, Reason: "because"}
	if got, want := err.Error(), "tokensource: refresh refused: because; retry in 12s"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	for _, tt := range []struct{ in, want time.Duration }{{0, time.Second}, {1500 * time.Millisecond, 2 * time.Second}, {30 * time.Second, 30 * time.Second}} {
		t.Run(fmt.Sprint(tt.in), func(t *testing.T) {
			if got := wholeSeconds(tt.in); got != tt.want {
				t.Errorf("wholeSeconds(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
