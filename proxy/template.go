package proxy

import "strings"

// idNames maps an API collection to the name of the id that follows it in a path.
var idNames = map[string]string{
	"services":  "{service_id}",
	"clusters":  "{cluster_id}",
	"databases": "{db_name}",
	"users":     "{db_user_id}",
	"tasks":     "{task_id}",
	"backups":   "{backup_id}",
	"nodes":     "{node_id}",
	"instances": "{instance_id}",
	"logs":      "{log_name}",
}

// apiRoutes are the DBaaS Manager API's paths below /api/v{N}/{user_id}/, "*" standing for an
// id (the emulator's _echo included): with the token endpoint, the only templates, so that the
// metric labels are a fixed set whatever paths clients send.
var apiRoutes = []string{
	"services", "services/*", "clusters/*", "clusters/*/databases", "clusters/*/databases/*",
	"clusters/*/users", "clusters/*/users/*", "clusters/*/resource", "clusters/*/configuration",
	"clusters/*/tasks", "clusters/*/tasks/*", "clusters/*/backups", "clusters/*/backups/configuration",
	"clusters/*/backups/cos/enable", "clusters/*/backups/cos/disable", "clusters/*/backups/cos/configuration",
	"clusters/*/restore", "nodes/*/logs", "nodes/*/logs/*", "nodes/*/start", "nodes/*/stop",
	"nodes/*/restart", "instances/*/start", "instances/*/stop", "instances/*/restart", "_echo",
}

// apiTemplates are apiRoutes with each "*" named by idNames.
var apiTemplates = func() []string {
	t := make([]string, len(apiRoutes))
	for i, r := range apiRoutes {
		segs := strings.Split(r, "/")
		for j, s := range segs {
			if s == "*" {
				segs[j] = idNames[segs[j-1]]
			}
		}
		t[i] = "/{user_id}/" + strings.Join(segs, "/")
	}
	return t
}()

// Template returns the API path template of an escaped request path, for metric labels and
// the status page: ids become placeholders, so a template never carries an account id, a
// cluster id or any other value a client chose; a path that is no route of the API (of
// version 1 to 9) is "other", so the set of templates is fixed.
//
//	/api/v3/2f3c.../clusters/8a1b.../users  ->  /api/v3/{user_id}/clusters/{cluster_id}/users
//	/api/v1/auth/token                      ->  /api/v1/auth/token
//	/favicon.ico, /api/v3/2f3c.../x         ->  other
func Template(path string) string {
	version, rest, ok := apiVersion(path)
	if !ok || len(version) > 2 {
		return "other"
	}
	if rest == "/auth/token" {
		return "/api/" + version + "/auth/token"
	}
	user, tail, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	for i, r := range apiRoutes {
		if user != "" && matchRoute(r, tail) {
			return "/api/" + version + apiTemplates[i]
		}
	}
	return "other"
}

// matchRoute reports whether the path tail fits route, segment by segment.
func matchRoute(route, tail string) bool {
	for {
		r, rrest, rmore := strings.Cut(route, "/")
		s, srest, smore := strings.Cut(tail, "/")
		if s == "" || r != "*" && r != s || rmore != smore {
			return false
		}
		if !rmore {
			return true
		}
		route, tail = rrest, srest
	}
}
