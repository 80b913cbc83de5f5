package server

import (
	"context"
	"net/http"
	"net/url"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/proxy"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// route is one listener with its upstream transport and token source: the identity's cache,
// or in gateway mode the cache of the client's identity.
type route struct {
	cfg      *config.Config // the route's view: its listen, upstream and auth
	base     *url.URL
	upstream *upstream.Transport
	ident    *identity
	guard    *inbound.Guard
	handler  http.Handler
}

// newRoute builds the route of rc: its upstream transport, its identities' caches (shared
// through a.identities), its inbound guard and its proxy handler.
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
	if r.ident, err = a.identity(rc); err != nil {
		return nil, err
	}
	var cache tokensource.Cache = r.ident.tokens
	clients := map[string]*identity{}
	for _, cl := range a.cfg.Inbound.Clients {
		if cl.Identity == "" || clients[cl.Identity] != nil {
			continue
		}
		if clients[cl.Identity], err = a.identity(rc.WithIdentity(cl.Identity)); err != nil {
			return nil, err
		}
		cache = &gatewayCache{route: r.ident, clients: clients}
	}
	r.guard, err = inbound.New(a.cfg.Inbound, inbound.Options{Listen: rc.Listen, Logger: a.log, OnReject: func(reason string) { a.metrics.Reject(rc.RouteName, reason) }})
	if err != nil {
		return nil, err
	}
	ph, err := proxy.New(proxy.Options{
		Upstream:  r.base,
		Transport: a.tokenTransport(rc, r.upstream, cache),
		CAFile:    rc.Upstream.CAFile,
		Timeout:   rc.Upstream.Timeout,
		Logger:    a.log,
		Guard:     r.guard.Wrap, ClientName: inbound.ClientName,
		Route: rc.RouteName, Generic: rc.Upstream.API == config.APIGeneric,
		Observe: func(rec *proxy.Record) {
			a.metrics.Observe(rec)
			recent.Add(rec)
			if c := rec.Status / 100; c >= 1 && c <= 5 {
				a.classes[c].Add(1)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	r.handler = inFlight(ph, a.metrics)
	return r, nil
}

// tokenTransport is the token-attaching transport of a route over its upstream pool.
func (a *Server) tokenTransport(rc *config.Config, up *upstream.Transport, cache tokensource.Cache) *tokensource.Transport {
	header := rc.Auth.HeaderName()
	if rc.Upstream.API == config.APIGeneric {
		header = "authorization"
	}
	return &tokensource.Transport{
		Cache:          cache,
		Base:           proxy.TimeUpstream(up), // upstream_duration: the round trip only
		Header:         header,
		RefreshOn:      rc.Auth.RefreshOn,
		MaxReplayBytes: rc.Auth.MaxReplayBytes,
		InPlace:        true, // the ReverseProxy's own outbound request, stripped by its Rewrite
		OnReplay: func(r *http.Request) {
			proxy.MarkReplayed(r)
			a.metrics.Replay(rc.RouteName)
		},
	}
}

// gatewayCache gives a request the token of its client's identity (inbound.ClientIdentity),
// else the route's: gateway mode, where each client acts with its own IAM identity.
type gatewayCache struct {
	route   *identity
	clients map[string]*identity
}

func (g *gatewayCache) pick(ctx context.Context) *tokensource.Cached {
	if id := g.clients[inbound.ClientIdentity(ctx)]; id != nil {
		return id.tokens
	}
	return g.route.tokens
}

// Token returns the token of the request's identity.
func (g *gatewayCache) Token(ctx context.Context) (tokensource.Token, error) {
	return g.pick(ctx).Token(ctx)
}

// Invalidate tells the cache that issued t (the one whose current token t is).
func (g *gatewayCache) Invalidate(t tokensource.Token) bool {
	for _, id := range g.clients {
		if id.tokens.Status().Fingerprint == t.Fingerprint() {
			return id.tokens.Invalidate(t)
		}
	}
	return g.route.tokens.Invalidate(t)
}
