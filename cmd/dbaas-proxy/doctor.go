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
	"gopkg.in/yaml.v3"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// doctor runs the checks of `dbaas-proxy doctor`, one line each, stopping at the first
// failure that makes the later checks meaningless.
type doctor struct {
	cfg    *config.Config
	out    io.Writer
	failed bool
}

func (d *doctor) check(name string, err error, detail string) bool {
	if err != nil {
		d.failed = true
		fmt.Fprintf(d.out, "FAIL  %-10s %v\n", name, err)
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
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.Upstream.Timeout)
	defer cancel()
	d.run(ctx, sys)
	d.printConfig()
	if d.failed {
		return &exitCode{code: exitFailure, err: errors.New("doctor: some checks failed")}
	}
	return nil
}

func (d *doctor) run(ctx context.Context, sys system) {
	pool, err := upstream.ReadCA(d.cfg.Upstream.CAFile)
	if !d.check("ca_file", err, d.cfg.Upstream.CAFile) {
		return
	}
	if !d.handshake(ctx, pool) {
		return
	}
	d.check("source", nil, sourceDetail(d.cfg))
	if d.cfg.Auth.Source != config.SourceTrustedProfile {
		source, warnings, err := server.APIKeySource(d.cfg.Auth, sys.getenv)
		if !d.check("api_key", err, "from "+source) {
			return
		}
		for _, w := range warnings {
			fmt.Fprintf(d.out, "warn  %-10s %s\n", "api_key", w)
		}
	}
	ex, closeFn, err := server.NewTokenSource(d.cfg, server.Options{Logger: zerolog.Nop(), Getenv: sys.getenv, Version: versionString()})
	if !d.check(credentialCheck(d.cfg), err, "found") {
		return
	}
	defer closeFn()
	tok, err := ex.Token(ctx)
	if err != nil {
		err = errors.New(tokensource.Describe(err)) // e.g. IAM's errorCode and message
	}
	if !d.check("token", err, fmt.Sprintf("from %s: user_id %s, expires %s (in %s), fingerprint %s",
		tokenEndpoint(d.cfg), tok.UserID, tok.Expiry.UTC().Format(time.RFC3339), time.Until(tok.Expiry).Round(time.Second), tok.Fingerprint())) {
		return
	}
	d.call(ctx, pool, tok)
}

// handshake dials the upstream, reports the chain it sends with each certificate's pin, and
// verifies it with the CA file as the only root, and against upstream.pins.
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
		err = fmt.Errorf("the chain does not verify against %s for %q: %w", d.cfg.Upstream.CAFile, pc.name, err)
	}
	if !d.check("tls", err, fmt.Sprintf("verified against %s for %q, %s", d.cfg.Upstream.CAFile, pc.name, tls.VersionName(pc.state.Version))) {
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
	tr, err := server.UpstreamTransport(d.cfg, pool)
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

// printConfig prints the configuration in force, each value set by the file, a variable or a
// flag marked with where it came from. It holds paths and hashes, never a secret: the key
// lives in its file, its command's output or the environment, client tokens only as SHA-256,
// and upstream.proxy_url's password as ***.
func (d *doctor) printConfig() {
	shown := *d.cfg
	if u := d.cfg.UpstreamProxy(); u != nil {
		shown.Upstream.ProxyURL = upstream.Redact(u)
	}
	var root yaml.Node
	if err := root.Encode(&shown); err != nil {
		return
	}
	annotate(&root, "", d.cfg)
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return
	}
	fmt.Fprintf(d.out, "\nconfiguration in force (unmarked values are defaults):\n%s", indent(b.String(), "  "))
}

// scalars reports whether the sequence n holds only scalars.
func scalars(n *yaml.Node) bool {
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return false
		}
	}
	return true
}

// annotate marks each key of the mapping n (at prefix) that was set, with where it was set.
func annotate(n *yaml.Node, prefix string, cfg *config.Config) {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		annotate(n.Content[0], prefix, cfg)
		return
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		if v.Kind == yaml.MappingNode {
			annotate(v, key, cfg)
			continue
		}
		if v.Kind == yaml.SequenceNode && scalars(v) {
			v.Style = yaml.FlowStyle // [401, 403], with room for the comment
		}
		if src := cfg.SetBy(key); src != "" {
			v.LineComment = src
		}
	}
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pre) + "\n"
}
