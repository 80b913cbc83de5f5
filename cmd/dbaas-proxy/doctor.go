package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/cause"
	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// doctor runs the checks of `dbaas-proxy doctor`, one line each.
type doctor struct {
	cfg    *config.Config
	out    io.Writer
	failed bool
}

func (d *doctor) check(name string, err error, detail string) bool {
	if err != nil {
		d.failed = true
		fix := ""
		if kind := cause.Of(err); kind != "" {
			fix = " (" + cause.Fix[kind] + ")" // as the proxy's error bodies and /readyz say
		}
		fmt.Fprintf(d.out, "FAIL  %-10s %v%s\n", name, err, fix)
		return false
	}
	fmt.Fprintf(d.out, "ok    %-10s %s\n", name, detail)
	return true
}

// setupDoctor checks the configuration against the real upstream: CA file, TLS handshake, token
// exchange, one authenticated call, and the clock. It never prints the key or the token.
func setupDoctor(fs *flag.FlagSet) runFunc {
	cf := addConfigFlags(fs)
	return func(ctx context.Context, sys system, _ []string) error {
		cfg, err := cf.load(sys)
		what := *cf.path
		if what == "" {
			what = "no file: the environment and the defaults"
		}
		d := &doctor{cfg: cfg, out: sys.stdout}
		if !d.check("config", err, what) {
			return &exitCode{code: exitUsage, err: errors.New("doctor: the config has problems")}
		}
		return d.runAll(ctx, sys)
	}
}

func (d *doctor) runAll(ctx context.Context, sys system) error {
	cfg := d.cfg
	routes := cfg.RouteConfigs()
	for _, rc := range routes {
		if len(routes) > 1 {
			fmt.Fprintf(d.out, "\nroute %s (identity %s)\n", rc.RouteName, rc.IdentityName)
		}
		d.cfg = rc
		rctx, cancel := context.WithTimeout(ctx, rc.Auth.Timeout+rc.Upstream.Timeout)
		d.run(rctx, sys)
		cancel()
	}
	d.cfg = cfg
	d.printConfig()
	if d.failed {
		return &exitCode{code: exitFailure, err: errors.New("doctor: some checks failed")}
	}
	return nil
}

func (d *doctor) run(ctx context.Context, sys system) {
	pool, err := upstream.ReadCA(d.cfg.Upstream.CAFile)
	if !d.check("ca_file", err, caName(d.cfg)) {
		return
	}
	if !d.handshake(ctx, pool) {
		return
	}
	d.check("source", nil, sourceDetail(d.cfg))
	if credentialCheck(d.cfg) == "api_key" {
		source, warnings, err := server.APIKeySource(d.cfg.Auth, sys.getenv)
		if !d.check("api_key", err, "from "+source) {
			return
		}
		for _, w := range warnings {
			fmt.Fprintf(d.out, "warn  %-10s %s\n", "api_key", w)
		}
	}
	check := credentialCheck(d.cfg)
	ex, closeFn, err := server.NewTokenSource(d.cfg, server.Options{Logger: zerolog.Nop(), Getenv: sys.getenv, Version: versionString()})
	if !d.check(check, err, "found") {
		return
	}
	defer closeFn()
	tok, err := ex.Token(ctx)
	if hint := metadataHint(d.cfg, err); hint != "" {
		fmt.Fprintf(d.out, "hint  %-10s %s\n", "metadata", hint)
	}
	if err != nil {
		err = errors.New(tokensource.Describe(err)) // e.g. IAM's errorCode and message
	}
	if !d.check("token", err, fmt.Sprintf("from %s: user_id %s, expires %s (in %s), fingerprint %s",
		d.cfg.TokenEndpoint(), tok.UserID, tok.Expiry.UTC().Format(time.RFC3339), time.Until(tok.Expiry).Round(time.Second), tok.Fingerprint())) {
		return
	}
	if d.cfg.Upstream.API == config.APIGeneric {
		fmt.Fprintf(d.out, "      %-10s skipped: upstream.api generic knows no call that every API answers\n", "api_call")
		return
	}
	d.call(ctx, pool, tok)
}

// handshake dials the upstream, prints the chain and its pins, and verifies it and the pins.
func (d *doctor) handshake(ctx context.Context, pool *x509.CertPool) bool {
	pc, err := dialChain(ctx, d.cfg)
	host := ""
	if pc != nil {
		host = pc.host
	}
	if !d.check("connect", err, host) {
		return false
	}
	certs := pc.state.PeerCertificates
	chain := make([]string, len(certs))
	for i, c := range certs {
		chain[i] = c.Subject.String() + " (issuer " + c.Issuer.String() + ")"
	}
	fmt.Fprintf(d.out, "      %-10s chain: %s\n", "", strings.Join(chain, " <- "))
	for _, c := range certs {
		fmt.Fprintf(d.out, "      %-10s pin %s  %s\n", "", upstream.Pin(c), c.Subject)
	}
	verified, err := pc.verify(pool)
	if err != nil {
		err = fmt.Errorf("the chain does not verify against %s for %q: %w", caName(d.cfg), pc.name, err)
	}
	if !d.check("tls", err, fmt.Sprintf("verified against %s for %q, %s", caName(d.cfg), pc.name, tls.VersionName(pc.state.Version))) {
		return false
	}
	if pins := d.cfg.Upstream.Pins; len(pins) > 0 {
		var err error
		if !upstream.MatchPins(pins, verified) {
			err = errors.New("no certificate of the verified chain (the CA file's included) has a key in upstream.pins; `dbaas-proxy pins` prints them")
		}
		return d.check("pins", err, "a certificate of the verified chain has a key in upstream.pins")
	}
	return true
}

// call makes one cheap authenticated request and compares the clocks.
func (d *doctor) call(ctx context.Context, pool *x509.CertPool, tok tokensource.Token) {
	tr, err := upstream.New(d.cfg.UpstreamOptions(pool))
	if !d.check("call", err, "") {
		return
	}
	defer tr.CloseIdleConnections()
	u := strings.TrimSuffix(d.cfg.UpstreamURL(), "/") + "/api/v3/" + url.PathEscape(tok.UserID) + "/services"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", server.UserAgent(versionString()))
	setToken(req.Header, d.cfg, tok.AccessToken)
	resp, err := tr.RoundTrip(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET /api/v3/{user_id}/services answered %d", resp.StatusCode)
		}
	}
	if !d.check("api_call", err, "GET /api/v3/{user_id}/services answered 200") {
		return
	}
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		d.check("clock", fmt.Errorf("the upstream sent no usable Date header"), "")
		return
	}
	skew := time.Since(date).Round(time.Second)
	if skew < 0 {
		skew = -skew
	}
	if skew > 30*time.Second {
		err = fmt.Errorf("the local clock differs from the upstream's by %s: token expiry will be misjudged; fix the clock (NTP)", skew)
	}
	d.check("clock", err, fmt.Sprintf("within %s of the upstream's", max(skew, time.Second)))
}

// printConfig prints every key's value in force, marked with its source unless a default.
// No value is a secret: the API key is never one, and upstream.proxy_url's password shows ***.
func (d *doctor) printConfig() {
	cfg := *d.cfg // the inbound limits as in force: 0 means their default
	l := cfg.Inbound.Limits()
	cfg.Inbound.MaxHeaderBytes, cfg.Inbound.ReadHeaderTimeout = l.MaxHeaderBytes, l.ReadHeaderTimeout
	cfg.Inbound.IdleTimeout, cfg.Inbound.BodyIdleTimeout = l.IdleTimeout, l.BodyIdleTimeout
	cfg.Inbound.WriteIdleTimeout = l.WriteIdleTimeout
	if u := d.cfg.UpstreamProxy(); u != nil {
		cfg.Upstream.ProxyURL = upstream.Redact(u)
	}
	fmt.Fprintf(d.out, "\nconfiguration in force (unmarked values are defaults):\n")
	for _, k := range config.Keys() {
		line := "  " + k.Name + ": " + cfg.Value(k.Name)
		if src := cfg.SetBy(k.Name); src != "" {
			line += " # " + src
		}
		fmt.Fprintln(d.out, line)
	}
}
