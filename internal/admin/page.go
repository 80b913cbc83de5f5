package admin

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// assets holds the status page's template and style sheet. It is read-only.
//
//go:embed page.html.tmpl page.css
var assets embed.FS

// baseCSP is every admin answer's CSP: nothing loads, nothing frames (the page adds its CSS hash).
const baseCSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// page is the parsed status page and the CSP that admits exactly its inline style sheet.
type page struct {
	tmpl *template.Template
	css  template.CSS
	csp  string
}

// newPage parses the embedded template and style sheet.
func newPage() *page {
	css, _ := assets.ReadFile("page.css") // embedded: a missing file fails the build
	sum := sha256.Sum256(css)
	return &page{
		tmpl: template.Must(template.New("page.html.tmpl").ParseFS(assets, "page.html.tmpl")),
		css:  template.CSS(css),
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
			"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	}
}

// pageData is what the template shows, every value already formatted.
type pageData struct {
	CSS         template.CSS
	Opts        Options // Version, Upstream, TokenSource, Credential, ProxyListen
	AdminAddr   string  // the address the page was asked on
	Uptime      string
	Now         string
	Ready       bool
	ReadyReason string
	Health      []healthView
	Down        bool // some route's upstream is down
	Token       tokenView
	Counts      map[string]int64
	Rate        chart // requests per minute over the last chartMinutes
	ErrorRate   chart // 5xx per minute
	Errors      []requestView
	Requests    []requestView
	Routes      []routeView
}

type routeView struct {
	RouteState
	View tokenView
}

type healthView struct {
	UpstreamHealth
	Since, Success, Failure string
}

// chart is a bar chart of one value per minute, as SVG rectangles in a 150×40 box.
type chart struct {
	Bars []bar
	Max  int64
}

type bar struct{ X, Y, H, N int64 }

func newChart(values []int64) chart {
	c := chart{Max: max(slices.Max(values), 1)}
	for i, v := range values {
		h := v * 40 / c.Max
		if v > 0 {
			h = max(h, 1)
		}
		c.Bars = append(c.Bars, bar{X: int64(i) * 10, Y: 40 - h, H: h, N: v})
	}
	return c
}

// tokenView is tokensource.Status for a person (and /status.json): never the token.
type tokenView struct {
	HasToken    bool   `json:"has_token"`
	Expired     bool   `json:"expired"`
	UserID      string `json:"user_id"`
	ExpiresIn   string `json:"expires_in"` // "expires in 41m2s" or "expired 3s ago"
	Expiry      string `json:"expiry"`
	Fingerprint string `json:"fingerprint"`
	IssuedAt    string `json:"issued_at"`
	LastRefresh string `json:"last_refresh"`
	LastError   string `json:"last_error"`
	NextAttempt string `json:"next_attempt"`
	Exchanges   int64  `json:"exchanges"`
	Failures    int64  `json:"failures"`
	LifePercent int64  `json:"life_percent"` // the share of the token's lifetime left, 0 to 100
}

// requestView is one row of the last requests, or one of the recent errors of /status.json.
type requestView struct {
	Time       string `json:"time"`
	Method     string `json:"method"`
	Path       string `json:"path"`
	Status     int    `json:"status"`
	Class      string `json:"-"` // "s2xx", "s4xx", ... for the colour
	Duration   string `json:"duration"`
	Replayed   bool   `json:"-"`
	ClientName string `json:"-"`
	Error      string `json:"message,omitempty"`
}

// pageData gathers the page's state from the options; r is the request for the page.
func (h *handler) pageData(r *http.Request) pageData {
	now := h.opts.Now()
	ready, reason := h.opts.Ready("")
	d := pageData{
		CSS: h.page.css, Opts: h.opts,
		Uptime: roundSeconds(now.Sub(h.started)), Now: formatTime(now),
		Ready: ready, ReadyReason: oneLine(reason), Token: newTokenView(h.opts.Token(), now),
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		d.AdminAddr = a.String()
	}
	if h.opts.Routes != nil {
		for _, r := range h.opts.Routes() {
			d.Routes = append(d.Routes, routeView{r, newTokenView(r.Token, now)})
		}
	}
	for _, s := range h.opts.Health.Snapshot() {
		d.Down = d.Down || !s.Up
		d.Health = append(d.Health, healthView{UpstreamHealth: s, Since: formatTime(s.DownSince),
			Success: relative(s.LastSuccess, now), Failure: relative(s.LastFailure, now)})
	}
	d.Counts = h.opts.Recent.counts()
	reqs, errs := h.opts.Recent.perMinute(now)
	d.Rate, d.ErrorRate = newChart(reqs), newChart(errs)
	for i, rec := range h.opts.Recent.Snapshot() {
		v := newRequestView(&rec)
		if i < pageRows {
			d.Requests = append(d.Requests, v)
		}
		if rec.Status >= 500 || rec.Error != "" {
			d.Errors = append(d.Errors, v)
		}
	}
	return d
}

// statusJSON serves GET /status.json: the status page's state for a program.
func (h *handler) statusJSON(w http.ResponseWriter, r *http.Request) {
	d := h.pageData(r)
	v := struct {
		Version       string           `json:"version"`
		Ready         bool             `json:"ready"`
		ReadyReason   string           `json:"ready_reason,omitempty"`
		UptimeSeconds int64            `json:"uptime_seconds"`
		Token         tokenView        `json:"token"`
		Upstream      []UpstreamHealth `json:"upstream"`
		Counts        map[string]int64 `json:"counts"`
		RecentErrors  []requestView    `json:"recent_errors"`
	}{Version: d.Opts.Version, Ready: d.Ready, ReadyReason: d.ReadyReason, Token: d.Token,
		UptimeSeconds: int64(h.opts.Now().Sub(h.started).Seconds()), Upstream: h.opts.Health.Snapshot(),
		Counts: d.Counts, RecentErrors: append([]requestView{}, d.Errors...)}
	body, _ := json.MarshalIndent(v, "", "  ") // plain values: cannot fail
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}

func newTokenView(s tokensource.Status, now time.Time) tokenView {
	v := tokenView{
		HasToken:    s.HasToken,
		UserID:      s.UserID,
		Fingerprint: s.Fingerprint,
		Expiry:      formatTime(s.Expiry),
		IssuedAt:    formatTime(s.IssuedAt),
		LastRefresh: relative(s.LastRefresh, now),
		LastError:   oneLine(tokensource.Describe(s.LastError)),
		NextAttempt: relative(s.NextAttempt, now),
		Exchanges:   s.Exchanges,
		Failures:    s.Failures,
	}
	if life := s.Expiry.Sub(s.IssuedAt); life > 0 && s.Expiry.After(now) {
		v.LifePercent = int64(100 * s.Expiry.Sub(now) / life)
	}
	switch {
	case !s.HasToken:
		v.ExpiresIn = "no token"
	case s.Expiry.IsZero():
		v.ExpiresIn = "expiry unknown"
	case s.Expiry.After(now):
		v.ExpiresIn = "expires in " + roundSeconds(s.Expiry.Sub(now))
	default:
		v.Expired = true
		v.ExpiresIn = "expired " + roundSeconds(now.Sub(s.Expiry)) + " ago"
	}
	return v
}

func newRequestView(rec *proxy.Record) requestView {
	return requestView{
		Time:       rec.Time.UTC().Format("15:04:05.000"),
		Method:     rec.Method,
		Path:       rec.Path,
		Status:     rec.Status,
		Class:      "s" + strconv.Itoa(rec.Status/100) + "xx",
		Duration:   rec.Duration.Round(time.Millisecond / 10).String(),
		Replayed:   rec.Replayed,
		ClientName: rec.ClientName,
		Error:      rec.Error,
	}
}

// formatTime shows t in UTC, "" when zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// relative shows t with its distance from now ("... (12s ago)", "... (in 3s)"), "" when zero.
func relative(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	if t.After(now) {
		return formatTime(t) + " (in " + roundSeconds(t.Sub(now)) + ")"
	}
	return formatTime(t) + " (" + roundSeconds(now.Sub(t)) + " ago)"
}

func roundSeconds(d time.Duration) string {
	return d.Round(time.Second).String()
}
