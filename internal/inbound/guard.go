package inbound

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// Options are the inputs of New that do not come from the configuration file.
type Options struct {
	// Listen is the configured listen address, which decides the mode and the default Host list.
	Listen string
	// Logger receives a debug line for each rejected request (method, escaped path, reason).
	Logger zerolog.Logger
	// OnReject, when set, is called for each rejected request with its short label (cidr, host,
	// cross_site, cors, auth, read_only, path, method, encoding, rate, body_too_large, overload).
	OnReject func(reason string)
}

// Guard enforces the inbound configuration on requests; build it with New. Concurrency-safe.
type Guard struct {
	opts Options

	cidrs      []netip.Prefix
	hosts      netrule.HostRule
	clients    atomic.Pointer[clientState]
	cfg        Config // as given to New
	denyPaths  []*regexp.Regexp
	allowPaths []*regexp.Regexp
	limits     Limits
	sem        chan struct{}
	tls        *tlsFiles // nil: plain HTTP
}

// New validates cfg for opts.Listen, compiles it and loads the TLS files (errors name the path).
func New(cfg Config, opts Options) (*Guard, error) {
	if err := cfg.Validate(opts.Listen); err != nil {
		return nil, fmt.Errorf("inbound: invalid configuration: %w", err)
	}
	tf, err := newTLSFiles(cfg.TLS)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		opts:       opts,
		cfg:        cfg,
		hosts:      newHostRule(cfg, opts.Listen),
		denyPaths:  mustCompile(cfg.DenyPaths),
		allowPaths: mustCompile(cfg.AllowPaths),
		limits:     cfg.Limits(),
		tls:        tf,
		sem:        make(chan struct{}, cmp.Or(cfg.MaxConcurrentRequests, DefaultMaxConcurrentRequests)),
	}
	for _, s := range cfg.AllowCIDRs {
		g.cidrs = append(g.cidrs, netip.MustParsePrefix(s).Masked()) // checked by Validate
	}
	g.clients.Store(newClientState(cfg))
	return g, nil
}

// clientState is what depends on inbound.clients; SetClients replaces it whole.
type clientState struct {
	auth  *authenticator // nil: no inbound authentication
	rules bool           // some path rule exists: refuse paths they cannot judge
}

func newClientState(cfg Config) *clientState {
	return &clientState{auth: newAuthenticator(cfg), rules: cfg.pathPolicy()}
}

// SetClients replaces inbound.clients (on SIGHUP) from the next request on, with fresh rate
// limits; it keeps the old ones when the new are invalid or would switch authentication.
func (g *Guard) SetClients(clients []Client) error {
	cfg := g.cfg
	cfg.Clients = clients
	if cfg.authConfigured() != g.cfg.authConfigured() {
		return errors.New("inbound: turning inbound authentication on or off takes a restart; kept the old inbound.clients")
	}
	if err := cfg.Validate(g.opts.Listen); err != nil {
		return fmt.Errorf("inbound: kept the old inbound.clients: %w", err)
	}
	g.clients.Store(newClientState(cfg))
	return nil
}

// Warnings returns what the configuration allows that deserves a loud note at start, such as
// allow_unauthenticated_remote on a non-loopback address. It never contains a secret.
func (g *Guard) Warnings() []string { return warnings(g.cfg, g.opts.Listen) }

func mustCompile(exprs []string) []*regexp.Regexp {
	res := make([]*regexp.Regexp, len(exprs))
	for i, e := range exprs {
		res[i] = regexp.MustCompile(e) // checked by Validate
	}
	return res
}

func warnings(cfg Config, listen string) []string {
	var w []string
	remote := !netrule.IsLoopbackListen(listen)
	auth := cfg.authConfigured()
	switch {
	case remote && !auth && cfg.AllowUnauthenticatedRemote:
		w = append(w, fmt.Sprintf("inbound.allow_unauthenticated_remote is true and listen %q is not "+
			"a loopback address: ANYONE WHO CAN REACH IT CAN CREATE AND DELETE DATABASE SERVICES WITH "+
			"YOUR IBM API KEY; configure inbound.clients or inbound.tls.client_ca_file instead", listen))
		if len(cfg.AllowedHosts) == 0 {
			w = append(w, fmt.Sprintf("inbound.allowed_hosts is empty: only Host localhost, 127.0.0.1, "+
				"[::1] and the listen address %q are answered; list the names clients use", listen))
		}
	case !remote && cfg.AllowUnauthenticatedRemote:
		w = append(w, fmt.Sprintf("inbound.allow_unauthenticated_remote has no effect: listen %q is a loopback address", listen))
	}
	if remote && auth && cfg.TLS.CertFile == "" {
		w = append(w, fmt.Sprintf("inbound bearer tokens travel in clear text: listen %q is not a "+
			"loopback address and inbound.tls.cert_file is not set", listen))
	}
	if !auth && slices.Contains(cfg.AllowedHosts, "*") {
		w = append(w, "inbound.allowed_hosts has \"*\": without inbound authentication, web pages "+
			"can reach the proxy through DNS rebinding")
	}
	return w
}

// newHostRule compiles the Host rule for cfg on listen; see Config.AllowedHosts.
func newHostRule(cfg Config, listen string) netrule.HostRule {
	if len(cfg.AllowedHosts) > 0 {
		return netrule.NewHostRule(cfg.AllowedHosts...)
	}
	if !netrule.IsLoopbackListen(listen) && cfg.authConfigured() {
		return netrule.NewHostRule("*")
	}
	entries := []string{"localhost", "127.0.0.1", "[::1]"}
	if strings.HasPrefix(listen, "unix:") {
		return netrule.NewHostRule(entries...).WithEmpty()
	}
	if i := strings.LastIndexByte(listen, ':'); i > 0 {
		entries = append(entries, listen[:i]) // the host as written, IPv6 in brackets as in Host
	}
	return netrule.NewHostRule(entries...)
}
