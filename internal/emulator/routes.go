package emulator

import (
	"net/http"
	"strings"
)

// params are the values of the "*" segments of a route, in order.
type params [2]string

// route is one method on one path pattern below /api/{v}/{user_id}/.
type route struct {
	method  string
	pattern []string // "*" matches any one non-empty segment
	v1Only  bool     // exists in API v1 only
	h       func(e *exchange, t *tenant, p params)
}

// routes returns the route table: every v3 row of the API, plus the v1-only operations.
func routes() []route {
	r := func(method, pattern string, h func(*exchange, *tenant, params)) route {
		return route{method: method, pattern: strings.Split(pattern, "/"), h: h}
	}
	v1 := func(method, pattern string, h func(*exchange, *tenant, params)) route {
		rt := r(method, pattern, h)
		rt.v1Only = true
		return rt
	}
	get, post, put, patch, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
	table := []route{
		r(get, "services", listServices),
		r(post, "services", createService),
		r(get, "services/*", getService),
		r(del, "services/*", deleteService),
		r(get, "clusters/*", getCluster),
		r(get, "clusters/*/databases", clusterDoc(func(c *cluster) []byte { return c.databases })),
		v1(post, "clusters/*/databases", clusterTask("create_database", "name")),
		v1(del, "clusters/*/databases/*", clusterTask("delete_database", "")),
		r(get, "clusters/*/users", clusterDoc(func(c *cluster) []byte { return c.users })),
		v1(post, "clusters/*/users", clusterTask("create_user", "name")),
		r(get, "clusters/*/users/*", getDBUser),
		v1(del, "clusters/*/users/*", clusterTask("delete_user", "")),
		r(patch, "clusters/*/resource", scaleResources),
		r(get, "clusters/*/configuration", getConfiguration),
		r(patch, "clusters/*/configuration", updateConfiguration),
		r(get, "clusters/*/tasks", getTasks),
		r(get, "clusters/*/tasks/*", getTask),
		r(get, "clusters/*/backups", clusterDoc(func(c *cluster) []byte { return c.backups })),
		r(post, "clusters/*/backups/cos/enable", enableCosBackup),
		r(post, "clusters/*/backups/cos/disable", disableCosBackup),
		r(get, "clusters/*/backups/cos/configuration", getCosBackupConfig),
		r(get, "clusters/*/backups/configuration", getBackupConfig),
		r(put, "clusters/*/backups/configuration", updateBackupConfig),
		r(post, "clusters/*/restore", restore),
		r(get, "nodes/*/logs", listLogs),
		r(get, "nodes/*/logs/*", downloadLog),
	}
	for _, base := range []string{"nodes", "instances"} {
		for _, action := range []string{"start", "stop", "restart"} {
			table = append(table, v1(post, base+"/*/"+action, nodeTask(action+"_node")))
		}
	}
	return table
}

// match reports whether segs fit the pattern and returns the "*" values.
func (rt *route) match(segs []string) (params, bool) {
	var p params
	if len(segs) != len(rt.pattern) {
		return p, false
	}
	n := 0
	for i, want := range rt.pattern {
		switch {
		case want == "*" && segs[i] != "":
			if n < len(p) {
				p[n] = segs[i]
			}
			n++
		case want != segs[i]:
			return p, false
		}
	}
	return p, true
}

// route finds the route of an authenticated request and runs it; 404 or 405 when none fits.
func (e *exchange) route(accountID string) {
	if e.nseg > maxSegs {
		e.fail(http.StatusNotFound, "no such route")
		return
	}
	rest := e.segs[3:e.nseg]
	var allow []string
	for i := range e.s.routes {
		rt := &e.s.routes[i]
		if rt.v1Only && e.segs[1] != "v1" {
			continue
		}
		p, ok := rt.match(rest)
		if !ok {
			continue
		}
		if rt.method != e.r.Method {
			allow = append(allow, rt.method)
			continue
		}
		e.s.rec.delivered(e.r.Header.Get("X-Request-Id"))
		rt.h(e, e.s.data.tenant(accountID), p)
		return
	}
	if len(allow) > 0 {
		e.w.Header().Set("Allow", strings.Join(allow, ", "))
		e.fail(http.StatusMethodNotAllowed, "method "+e.r.Method+" is not allowed here")
		return
	}
	e.fail(http.StatusNotFound, "no such route")
}
