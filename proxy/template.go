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

// literals are the fixed path segments of the API that are not collections.
var literals = map[string]bool{
	"resource": true, "configuration": true, "cos": true, "enable": true, "disable": true,
	"restore": true, "start": true, "stop": true, "restart": true,
}

// maxTemplateSegments bounds the template of very deep paths, which fall to "other".
const maxTemplateSegments = 10

// template returns the API path template of an escaped request path, for metric labels and
// the status page: ids become placeholders, so a template never carries an account id, a
// cluster id or any other value a client chose, and the set of templates stays small.
//
//	/api/v3/2f3c.../clusters/8a1b.../users  ->  /api/v3/{user_id}/clusters/{cluster_id}/users
//	/api/v1/auth/token                      ->  /api/v1/auth/token
//	/favicon.ico                            ->  other
func template(path string) string {
	version, rest, ok := apiVersion(path)
	if !ok || len(version) > 4 {
		return "other"
	}
	if rest == "/auth/token" {
		return "/api/" + version + "/auth/token"
	}
	rest = strings.TrimPrefix(rest, "/")
	user, tail, more := strings.Cut(rest, "/")
	if strings.Count(rest, "/") >= maxTemplateSegments || user == "" {
		return "/api/" + version + "/{other}"
	}
	var b strings.Builder
	b.Grow(len(path) + 16)
	b.WriteString("/api/")
	b.WriteString(version)
	b.WriteString("/{user_id}")
	prev := ""
	for more {
		var s string
		s, tail, more = strings.Cut(tail, "/")
		b.WriteByte('/')
		switch {
		case idNames[s] != "" || literals[s]:
			b.WriteString(s)
		case idNames[prev] != "":
			b.WriteString(idNames[prev])
		default:
			b.WriteString("{id}")
		}
		prev = s
	}
	return b.String()
}
