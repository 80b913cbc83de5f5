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
	segs := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if len(segs) > maxTemplateSegments || segs[0] == "" {
		return "/api/" + version + "/{other}"
	}
	segs[0] = "{user_id}"
	prev := ""
	for i, s := range segs[1:] {
		switch {
		case idNames[s] != "" || literals[s]:
		case idNames[prev] != "":
			segs[i+1] = idNames[prev]
		default:
			segs[i+1] = "{id}"
		}
		prev = s
	}
	return "/api/" + version + "/" + strings.Join(segs, "/")
}
