package server

import "net"

// Addr is the first route's listener address; nil before Listen.
func (a *Server) Addr() net.Addr {
	if a.ls == nil {
		return nil
	}
	return a.ls.ls[0].Addr()
}

// RouteAddr is the listener address of the route name; nil before Listen or for no such route.
func (a *Server) RouteAddr(name string) net.Addr {
	for i, r := range a.routes {
		if r.cfg.RouteName == name && a.ls != nil {
			return a.ls.ls[i].Addr()
		}
	}
	return nil
}

// AdminAddr is the admin listener's address; nil before Listen or when it is disabled.
func (a *Server) AdminAddr() net.Addr {
	if a.ls == nil || len(a.ls.servers) == len(a.routes) {
		return nil
	}
	return a.ls.ls[len(a.routes)].Addr()
}

// APIKeySource says where the default route's API key comes from, for a log line; never the
// key. With auth.source trusted_profile it says that no API key is used.
func (a *Server) APIKeySource() string { return a.routes[0].ident.credentialSource() }
