package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// app is one running dbaas-proxy: the token source, the upstream transport, the proxy
// handler with its inbound guard, and the admin handler. Build it with newApp; serve it with
// serve (lifecycle.go).
type app struct {
	cfg      *Config
	log      zerolog.Logger
	keys     *keyStore
	upstream *swapTransport
	tokens   *tokensource.Cached
	guard    *inbound.Guard
	proxy    http.Handler
	admin    http.Handler
	metrics  *admin.Metrics
	stopping atomic.Bool
	classes  [6]atomic.Int64 // requests by status class (index status/100), for the status page
}

// newApp builds the app from a validated config. It reads the CA file, the API key and the
// inbound TLS files, and fails with an error naming the file if one is missing or broken. It
// starts nothing: serve does.
func newApp(cfg *Config, logger zerolog.Logger, getenv func(string) string) (*app, error) {
	a := &app{cfg: cfg, log: logger}
	pool, err := readCA(cfg.Upstream.CAFile)
	if err != nil {
		return nil, err
	}
	if a.keys, err = newKeyStore(cfg.Auth.APIKeyFile, getenv); err != nil {
		return nil, err
	}
	base, err := url.Parse(cfg.UpstreamURL())
	if err != nil {
		return nil, fmt.Errorf("upstream.url: %w", err)
	}
	a.upstream = newSwapTransport(newUpstreamTransport(cfg, pool))
	reg := prometheus.NewRegistry()
	reg.MustRegister( // goroutines, memory, GC, open fds: what an operator watches in a soak
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	a.metrics = admin.NewMetrics(reg, version, a.tokenState, time.Now)
	if err := a.buildTokens(base); err != nil {
		return nil, err
	}
	a.guard, err = inbound.New(cfg.Inbound, inbound.Options{
		Listen: cfg.Listen, Logger: logger, OnReject: a.metrics.Reject,
	})
	if err != nil {
		return nil, err
	}
	recent := admin.NewRecent(50)
	ph, err := a.buildProxy(base, recent)
	if err != nil {
		return nil, err
	}
	a.proxy = inFlight(ph, a.metrics)
	a.admin = admin.NewHandler(admin.Options{
		Logger: logger, Version: version, Upstream: base.String(),
		Token: a.tokenState, Ready: a.ready, Refresh: func() { a.tokens.Refresh() },
		Gatherer: reg, Recent: recent, AllowedHosts: cfg.Admin.AllowedHosts, Counts: a.counts,
	})
	return a, nil
}

// buildProxy builds the proxy handler: the token-attaching transport over the upstream pool,
// the inbound guard, and the observers of each request (metrics, the status page's list and
// counts).
func (a *app) buildProxy(base *url.URL, recent *admin.Recent) (*proxy.Handler, error) {
	cfg := a.cfg
	return proxy.New(proxy.Options{
		Upstream: base,
		Transport: &tokensource.Transport{
			Source:         a.tokens,
			Base:           a.upstream,
			Header:         strings.ToLower(cfg.Auth.Header),
			RefreshOn:      cfg.Auth.RefreshOn,
			MaxReplayBytes: replayLimit(cfg.Auth.MaxReplayBytes),
			OnReplay: func(r *http.Request) {
				proxy.MarkReplayed(r)
				a.metrics.Replay()
			},
		},
		Source:     a.tokens,
		CAFile:     cfg.Upstream.CAFile,
		Timeout:    cfg.Upstream.Timeout,
		Logger:     a.log,
		Guard:      a.guard.Wrap,
		ClientName: inbound.ClientName,
		Observe: func(rec *proxy.Record) {
			a.metrics.Observe(rec)
			recent.Add(rec)
			if c := rec.Status / 100; c >= 1 && c <= 5 {
				a.classes[c].Add(1)
			}
		},
	})
}

// buildTokens builds the API-key exchange and the caching decorator in front of it.
func (a *app) buildTokens(base *url.URL) error {
	tu, err := tokenURL(base.String(), a.cfg.Auth.TokenPath)
	if err != nil {
		return err
	}
	ex := tokensource.NewExchange(tokensource.ExchangeOptions{
		URL:             tu,
		Client:          &http.Client{Transport: a.upstream, Timeout: a.cfg.Upstream.Timeout},
		Key:             a.keys.Key,
		DefaultLifetime: a.cfg.Auth.DefaultLifetime,
		Logger:          a.log,
	})
	a.tokens = tokensource.NewCached(ex, tokensource.CachedOptions{
		Logger: a.log,
		OnExchange: func(_ tokensource.Token, err error) {
			a.metrics.TokenExchange(exchangeResult(err))
		},
	})
	return nil
}

// replayLimit maps auth.max_replay_bytes to tokensource.Transport.MaxReplayBytes, where 0
// means the default and a negative value disables replaying bodies.
func replayLimit(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

func exchangeResult(err error) string {
	var xe *tokensource.ExchangeError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &xe) && xe.Rejected():
		return "rejected"
	}
	return "error"
}

// tokenState is the token's state for the admin page and metrics: never the token itself.
func (a *app) tokenState() admin.TokenState {
	st := a.tokens.Status()
	ts := admin.TokenState{
		HasToken: st.HasToken, UserID: st.UserID, Expiry: st.Expiry, Fingerprint: st.Fingerprint,
		IssuedAt: st.IssuedAt, LastRefresh: st.LastRefresh, NextAttempt: st.NextAttempt,
		Exchanges: st.Exchanges, Failures: st.Failures,
	}
	if st.LastError != nil {
		ts.LastError = st.LastError.Error()
	}
	return ts
}

// counts returns the requests served so far by status class, for the status page.
func (a *app) counts() map[string]int64 {
	m := make(map[string]int64, 5)
	for c := 1; c <= 5; c++ {
		m[fmt.Sprintf("%dxx", c)] = a.classes[c].Load()
	}
	return m
}

// ready is the readiness check: a usable token and not shutting down.
func (a *app) ready() (bool, string) {
	if a.stopping.Load() {
		return false, "shutting down"
	}
	return a.tokens.Status().Ready(time.Now())
}

// inFlight counts the requests being served.
func inFlight(next http.Handler, m *admin.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.RequestStarted()
		defer m.RequestDone()
		next.ServeHTTP(w, r)
	})
}
