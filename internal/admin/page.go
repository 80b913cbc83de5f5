package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"strconv"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// assets holds the status page's template and style sheet. It is read-only.
//
//go:embed page.html.tmpl page.css
var assets embed.FS

// baseCSP is the Content-Security-Policy of every admin answer: nothing may load, nothing may
// frame it. The status page adds its own style sheet by hash.
const baseCSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// page is the parsed status page and the CSP that admits exactly its inline style sheet.
type page struct {
	tmpl *template.Template
	css  template.CSS
	csp  string
}

// newPage parses the embedded template. The assets are part of the binary, so a failure is a
// programming error caught by every test.
func newPage() *page {
	css, err := assets.ReadFile("page.css")
	if err != nil {
		panic("admin: page.css: " + err.Error())
	}
	tmpl := template.Must(template.New("page.html.tmpl").ParseFS(assets, "page.html.tmpl"))
	sum := sha256.Sum256(css)
	return &page{
		tmpl: tmpl,
		css:  template.CSS(css),
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
			"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	}
}

// render executes the template into a buffer, so that a failure can still become a 500.
func (p *page) render(d pageData) ([]byte, error) {
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("admin: render the status page: %w", err)
	}
	return buf.Bytes(), nil
}

// pageData is what the template shows, every value already formatted.
type pageData struct {
	CSS         template.CSS
	Version     string
	Upstream    string
	TokenSource string
	Now         string
	Ready       bool
	ReadyReason string
	Token       tokenView
	Counts      map[string]int64
	Requests    []requestView
}

// tokenView is the token cache's tokensource.Status for a person.
type tokenView struct {
	HasToken    bool
	Expired     bool
	UserID      string
	ExpiresIn   string // "expires in 41m2s" or "expired 3s ago"
	Expiry      string
	Fingerprint string
	IssuedAt    string
	LastRefresh string
	LastError   string
	NextAttempt string
	Exchanges   int64
	Failures    int64
}

// requestView is one row of the last requests.
type requestView struct {
	Time       string
	Method     string
	Path       string
	Status     int
	Class      string // "s2xx", "s4xx", ... for the colour
	Duration   string
	Replayed   bool
	ClientName string
}

// pageData gathers the page's state from the options.
func (h *handler) pageData() pageData {
	now := h.opts.Now()
	ready, reason := h.opts.Ready()
	d := pageData{
		CSS:         h.page.css,
		Version:     h.opts.Version,
		Upstream:    h.opts.Upstream,
		TokenSource: h.opts.TokenSource,
		Now:         formatTime(now),
		Ready:       ready,
		ReadyReason: oneLine(reason),
		Token:       newTokenView(h.opts.Token(), now),
	}
	if h.opts.Counts != nil {
		d.Counts = h.opts.Counts()
	}
	recs := h.opts.Recent.Snapshot()
	if len(recs) > pageRows {
		recs = recs[:pageRows]
	}
	d.Requests = make([]requestView, len(recs))
	for i := range recs {
		d.Requests[i] = newRequestView(&recs[i])
	}
	return d
}

// newTokenView formats s relative to now.
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

// newRequestView formats one record.
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

// roundSeconds shows d to the second.
func roundSeconds(d time.Duration) string {
	return d.Round(time.Second).String()
}
