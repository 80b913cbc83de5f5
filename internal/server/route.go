package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// route is one listener with its upstream transport and token caches (see tokenTransport).
type route struct {
	cfg      *config.Config // the route's view: its listen, upstream and auth
	base     *url.URL
	upstream *upstream.Transport
	ident    *identity
	guard    *inbound.Guard
	clients  map[string]*tokensource.Cached // gateway clients' identities, by name
	handler  http.Handler
}

// newRoute builds rc's upstream transport, identity caches, inbound guard and proxy handler.
func (a *Server) newRoute(rc *config.Config, recent *admin.Recent) (*route, error) {
	r := &route{cfg: rc}
	pool, err := upstream.ReadCA(rc.Upstream.CAFile)
	if err != nil {
		return nil, err
	}
	if r.base, err = url.Parse(rc.UpstreamURL()); err != nil {
		return nil, err
	}
	if r.upstream, err = upstream.New(rc.UpstreamOptions(pool)); err != nil {
		return nil, err
	}
	if u := rc.UpstreamProxy(); u != nil {
		a.log.Info().Str("route", rc.RouteName).Str("proxy_url", upstream.Redact(u)).Msg("the upstream and IAM are reached through a proxy")
	}
	if r.ident, err = a.identity(rc); err != nil {
		return nil, err
	}
	r.clients = map[string]*tokensource.Cached{}
	for _, cl := range a.cfg.Inbound.Clients {
		if cl.Identity == "" || r.clients[cl.Identity] != nil {
			continue
		}
		id, err := a.identity(rc.WithIdentity(cl.Identity))
		if err != nil {
			return nil, err
		}
		r.clients[cl.Identity] = id.tokens
	}
	r.guard, err = inbound.New(a.cfg.Inbound, inbound.Options{Listen: rc.Listen, Logger: a.log, OnReject: func(reason string) { a.metrics.Reject(rc.RouteName, reason) }})
	if err != nil {
		return nil, err
	}
	ph, err := proxy.New(proxy.Options{
		Upstream:         r.base,
		Transport:        a.tokenTransport(rc, r),
		CAFile:           rc.Upstream.CAFile,
		Timeout:          rc.Upstream.Timeout,
		WriteIdleTimeout: a.cfg.Inbound.Limits().WriteIdleTimeout,
		Logger:           a.log,
		Guard:            r.guard.Wrap, ClientName: inbound.ClientName,
		Route: rc.RouteName, Generic: rc.Upstream.API == config.APIGeneric,
		Observe: func(rec *proxy.Record) {
			a.metrics.Observe(rec)
			a.health.Observe(rc.RouteName, rec)
			recent.Add(rec)
		},
	})
	if err != nil {
		return nil, err
	}
	r.handler = inFlight(ph, a.metrics)
	return r, nil
}

// tokenTransport attaches the token of r's identity, or in gateway mode the client's.
func (a *Server) tokenTransport(rc *config.Config, r *route) *tokensource.Transport {
	header := rc.Auth.HeaderName()
	if rc.Upstream.API == config.APIGeneric {
		header = "authorization"
	}
	t := &tokensource.Transport{
		Cache:          r.ident.tokens,
		Base:           proxy.TimeUpstream(r.upstream), // upstream_duration: the round trip only
		Header:         header,
		RefreshOn:      rc.Auth.RefreshOn,
		MaxReplayBytes: rc.Auth.MaxReplayBytes,
		OnReplay: func(req *http.Request) {
			proxy.MarkReplayed(req)
			a.metrics.Replay(rc.RouteName)
		},
	}
	if len(r.clients) > 0 {
		t.Caches = func(ctx context.Context) *tokensource.Cached { return r.clients[inbound.ClientIdentity(ctx)] }
	}
	return t
}

// probe checks r's upstream while no request flows: a TLS handshake, via proxy_url if set.
func (r *route) probe(ctx context.Context) error {
	pool, err := upstream.ReadCA(r.cfg.Upstream.CAFile)
	if err != nil {
		return err
	}
	host := r.base.Host
	if r.base.Port() == "" {
		host = net.JoinHostPort(r.base.Hostname(), "443")
	}
	raw, err := upstream.Dialer(r.cfg.UpstreamProxy())(ctx, "tcp", host)
	if err != nil {
		return err
	}
	defer raw.Close()
	return tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: cmp.Or(r.cfg.Upstream.ServerName, r.base.Hostname()),
		MinVersion: tls.VersionTLS12}).HandshakeContext(ctx)
}
