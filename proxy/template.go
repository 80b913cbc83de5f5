package proxy

import "strings"

// apiRoutes are the API's path templates below /api/v{N}/{user_id}/ ("{...}" an id): with the
// token endpoint the only templates, so metric labels are a fixed set.
var apiRoutes = []string{
	"services", "services/{service_id}", "clusters/{cluster_id}", "clusters/{cluster_id}/databases",
	"clusters/{cluster_id}/databases/{db_name}", "clusters/{cluster_id}/users",
	"clusters/{cluster_id}/users/{db_user_id}", "clusters/{cluster_id}/resource",
	"clusters/{cluster_id}/configuration", "clusters/{cluster_id}/tasks", "clusters/{cluster_id}/tasks/{task_id}",
	"clusters/{cluster_id}/backups", "clusters/{cluster_id}/backups/configuration",
	"clusters/{cluster_id}/backups/cos/enable", "clusters/{cluster_id}/backups/cos/disable",
	"clusters/{cluster_id}/backups/cos/configuration", "clusters/{cluster_id}/restore",
	"nodes/{node_id}/logs", "nodes/{node_id}/logs/{log_name}", "nodes/{node_id}/start", "nodes/{node_id}/stop",
	"nodes/{node_id}/restart", "instances/{instance_id}/start", "instances/{instance_id}/stop",
	"instances/{instance_id}/restart",
}

// template returns the API path template of an escaped request path, for metric labels: ids
// become placeholders, never a client's value; a path that is no API route (v1-v9) is "other".
//
//	/api/v3/2f3c.../clusters/8a1b.../users  ->  /api/v3/{user_id}/clusters/{cluster_id}/users
//	/api/v1/auth/token                      ->  /api/v1/auth/token
//	/favicon.ico, /api/v3/2f3c.../x         ->  other
func template(path string) string {
	version, rest, ok := apiVersion(path)
	if !ok || len(version) > 2 {
		return "other"
	}
	if rest == "/auth/token" {
		return "/api/" + version + "/auth/token"
	}
	user, tail, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	for _, r := range apiRoutes {
		if user != "" && matchRoute(r, tail) {
			return "/api/" + version + "/{user_id}/" + r
		}
	}
	return "other"
}

// matchRoute reports whether the path tail fits route, segment by segment.
func matchRoute(route, tail string) bool {
	for {
		r, rrest, rmore := strings.Cut(route, "/")
		s, srest, smore := strings.Cut(tail, "/")
		if s == "" || r[0] != '{' && r != s || rmore != smore {
			return false
		}
		if !rmore {
			return true
		}
		route, tail = rrest, srest
	}
}
