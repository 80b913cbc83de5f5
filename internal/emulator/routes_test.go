package emulator

import (
	"net/http"
	"strings"
	"testing"
)

// fixture is an emulator, a client, a token and the ids of the generated resources.
type fixture struct {
	s                  *Server
	c                  *http.Client
	tok                string
	base               string // URL + /api/v3/{user_id}
	svc, pg, mongo     string // service id of the PostgreSQL one; cluster ids
	node, task, dbUser string // of the PostgreSQL cluster
	backup             string // a backup of the PostgreSQL cluster
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{s: start(t, opts)}
	f.c = newClient(t, f.s, clientOpts{})
	f.tok = tokenFor(t, f.s, f.c, f.s.APIKey())
	f.base = f.s.URL() + "/api/v3/" + f.s.UserID()
	services := decode(t, f.get(t, "/services").body)["services"].([]any)
	if len(services) != 2 {
		t.Fatalf("%d services, want 2", len(services))
	}
	for _, it := range services {
		item := it.(map[string]any)
		svc := item["service"].(map[string]any)
		switch svc["catalog"] {
		case catalogPostgres:
			f.svc, f.pg = svc["id"].(string), item["cluster_id"].(string)
		case catalogMongo:
			f.mongo = item["cluster_id"].(string)
		}
	}
	cl := decode(t, f.get(t, "/clusters/"+f.pg).body)
	f.node = cl["nodes"].([]any)[0].(map[string]any)["id"].(string)
	tasks := decode(t, f.get(t, "/clusters/"+f.pg+"/tasks").body)["tasks"].([]any)
	f.task = tasks[0].(map[string]any)["id"].(string)
	f.dbUser = "admin"
	f.backup = hexFrom(f.s.UserID(), "svc-0/backup-0") // the first backup of the PostgreSQL cluster, without a request
	return f
}

func (f *fixture) get(t *testing.T, path string) answer {
	t.Helper()
	a := do(t, f.c, "GET", f.base+path, "", xAuth(f.tok))
	if a.status != 200 {
		t.Fatalf("GET %s: status %d body %s", path, a.status, a.body)
	}
	return a
}

// resourceCase is one call of TestResourceRoutes.
type resourceCase struct {
	method, path, body string
	headers            []string
	want               int
	keys               []string // top-level members of the JSON answer
}

// resourceCases covers every v3 row of the API and its errors.
func resourceCases(f *fixture) []resourceCase {
	cl := "/clusters/" + f.pg
	return []resourceCase{
		{"GET", "/services", "", nil, 200, []string{"services"}},
		{"GET", "/services/" + f.svc, "", nil, 200, []string{"service", "cluster_id"}},
		{"GET", cl, "", nil, 200, []string{"id", "crn", "region", "name", "state", "reason", "db_type", "db_version",
			"public_endpoint", "private_endpoint", "plan_id", "replica_count", "user_id", "resource", "nodes",
			"created_at", "updated_at"}},
		{"GET", "/clusters/" + f.mongo, "", nil, 200, []string{"id", "db_type", "nodes"}},
		{"GET", cl + "/databases", "", nil, 200, []string{"total_size", "databases"}},
		{"GET", cl + "/users", "", nil, 200, []string{"users"}},
		{"GET", cl + "/users/" + f.dbUser, "", nil, 200, []string{"name", "auth_db", "db_access", "role_attributes"}},
		{"PATCH", cl + "/resource", `{"resource": {"cpu": 2, "memory": "4GiB"}}`, nil, 202, []string{"task_id"}},
		{"GET", cl + "/configuration", "", nil, 200, []string{"configuration"}},
		{"PATCH", cl + "/configuration", `{"configuration": {"max_connections": 200}}`, nil, 202, []string{"task_id"}},
		{"GET", cl + "/tasks", "", nil, 200, []string{"tasks"}},
		{"GET", cl + "/tasks/" + f.task, "", nil, 200, []string{"id", "type", "state", "reason", "started_at", "finished_at", "nodes"}},
		{"GET", cl + "/backups", "", nil, 200, []string{"backups"}},
		{"POST", cl + "/backups/cos/enable", `{"cos_endpoint": "e", "bucket_instance_crn": "b"}`, nil, 202, []string{"task_id"}},
		{"PUT", cl + "/backups/configuration", `{"cos": {"schedule": {"value": "2h"}}}`, nil, 202, []string{"task_id"}},
		{"GET", cl + "/backups/configuration", "", nil, 200, []string{"cos"}},
		{"GET", cl + "/backups/cos/configuration", "", nil, 200, []string{"cos_endpoint", "bucket_instance_crn"}},
		{"POST", cl + "/backups/cos/disable", `{}`, nil, 202, []string{"task_id"}},
		{"POST", cl + "/backups/cos/disable", ``, nil, 202, []string{"task_id"}},
		{"POST", cl + "/restore", `{"backup_id": "` + f.backup + `"}`, nil, 202, []string{"task_id"}},
		{"GET", "/nodes/" + f.node + "/logs", "", nil, 200, []string{"logs"}},
		{"POST", "/services", `{"name": "new-db", "catalog": "hyperp-dbaas-postgresql", "cpu": 1, "memory": "2GiB"}`,
			[]string{"accept-license-agreement: yes"}, 202, []string{"service", "cluster_id"}},
		// errors
		{"POST", "/services", `{"name": "x", "catalog": "hyperp-dbaas-postgresql"}`, nil, 400, nil},
		{"POST", "/services", `{"name": "x", "catalog": "oracle"}`, []string{"accept-license-agreement: yes"}, 400, nil},
		{"POST", "/services", `not json`, []string{"accept-license-agreement: yes"}, 400, nil},
		{"PATCH", cl + "/resource", `not json`, nil, 400, nil},
		{"PATCH", cl + "/resource", `{"cpu": 2}`, nil, 400, nil},
		{"POST", cl + "/restore", ``, nil, 400, nil},
		{"POST", cl + "/restore", `{"backup_id": "x"}`, nil, 404, nil},
		{"POST", cl + "/restore", `{"source_type": "cos", "backup_file": "f"}`, nil, 400, nil},
		{"POST", cl + "/restore", `{"source_type": "tape"}`, nil, 400, nil},
		{"POST", cl + "/backups/cos/enable", `{"cos_endpoint": "e"}`, nil, 400, nil},
		{"POST", cl + "/backups/cos/enable", `{"cos_endpoint": "e", "bucket_instance_crn": "b", "schedule": {"value": "3h"}}`, nil, 400, nil},
		{"POST", "/clusters/" + f.mongo + "/backups/cos/enable",
			`{"cos_endpoint": "e", "bucket_instance_crn": "b", "schedule": {"value": "1h"}}`, nil, 400, nil},
		{"POST", cl + "/backups/cos/enable", `{"cos_endpoint": "e", "bucket_instance_crn": "b", "cos_hmac_keys": {}}`, nil, 400, nil},
		{"PUT", "/clusters/" + f.mongo + "/backups/configuration", `{"cos": {"cos_endpoint": "e"}}`, nil, 400, nil}, // off
		{"PUT", cl + "/backups/configuration", `{"backup_schedule": "daily"}`, nil, 400, nil},
		{"PATCH", cl + "/resource", `{"resource": {"cpu": 7}}`, nil, 400, nil},
		{"PATCH", cl + "/resource", `{"resource": {"memory": "1GiB"}}`, nil, 400, nil},
		{"PATCH", cl + "/resource", `{"resource": {}}`, nil, 400, nil},
		{"PATCH", cl + "/configuration", `{"configuration": {"max_connections": 10}}`, nil, 400, nil},
		{"PATCH", cl + "/configuration", `{"configuration": {"work_mem": 10}}`, nil, 400, nil},
		{"PATCH", cl + "/configuration", `{"configuration": {}}`, nil, 400, nil},
		{"PATCH", "/clusters/" + f.mongo + "/configuration", `{"configuration": {"max_connections": 200}}`, nil, 400, nil},
		{"GET", "/clusters/" + f.mongo + "/users/admin", "", nil, 404, nil}, // MongoDB: auth_db.name
		{"GET", "/clusters/" + f.mongo + "/configuration", "", nil, 400, nil},
		{"GET", "/clusters/nope", "", nil, 404, nil},
		{"GET", "/services/nope", "", nil, 404, nil},
		{"GET", cl + "/users/nobody", "", nil, 404, nil},
		{"GET", cl + "/tasks/nope", "", nil, 404, nil},
		{"GET", "/nowhere", "", nil, 404, nil},
		{"GET", "/services/", "", nil, 404, nil},
		{"PUT", "/services", "{}", nil, 405, nil},
		{"POST", cl + "/databases", `{"name": "d"}`, nil, 405, nil},  // v1 only
		{"POST", "/nodes/" + f.node + "/restart", "", nil, 404, nil}, // v1 only
	}
}

func TestResourceRoutes(t *testing.T) {
	f := newFixture(t, Options{})
	for _, tc := range resourceCases(f) {
		t.Run(tc.method+" "+strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
			hs := append([]string{xAuth(f.tok), "Content-Type: application/json"}, tc.headers...)
			a := do(t, f.c, tc.method, f.base+tc.path, tc.body, hs...)
			if tc.want >= 400 {
				wantError(t, a, tc.want)
				return
			}
			if a.status != tc.want || a.header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d Content-Type %q, want %d JSON (body %s)", a.status, a.header.Get("Content-Type"), tc.want, a.body)
			}
			m := decode(t, a.body)
			for _, k := range tc.keys {
				if _, ok := m[k]; !ok {
					t.Errorf("answer lacks %q: %s", k, a.body)
				}
			}
		})
	}
}

func TestClusterShape(t *testing.T) {
	f := newFixture(t, Options{})
	for _, id := range []string{f.pg, f.mongo} {
		cl := decode(t, f.get(t, "/clusters/"+id).body)
		nodes := cl["nodes"].([]any)
		if len(nodes) != 3 || cl["replica_count"] != float64(3) || cl["user_id"] != f.s.UserID() {
			t.Errorf("cluster %s: %d nodes, replica_count %v, user_id %v", id, len(nodes), cl["replica_count"], cl["user_id"])
		}
		for _, k := range []string{"id", "replica_state", "replication_lag", "node_state", "reason", "name", "created_at", "updated_at"} {
			if _, ok := nodes[0].(map[string]any)[k]; !ok {
				t.Errorf("node lacks %s", k)
			}
		}
		res := cl["resource"].(map[string]any)
		for _, k := range []string{"cpu", "memory", "storage", "storage_used"} {
			if _, ok := res[k]; !ok {
				t.Errorf("resource lacks %s", k)
			}
		}
	}
	if db := decode(t, f.get(t, "/clusters/"+f.mongo).body)["db_type"]; db != "mongodb" {
		t.Errorf("db_type %v, want mongodb", db)
	}
}

func TestServiceLifecycle(t *testing.T) {
	f := newFixture(t, Options{})
	a := do(t, f.c, "POST", f.base+"/services", `{"name": "fresh", "catalog": "hyperp-dbaas-mongodb", "tags": ["a"]}`,
		xAuth(f.tok), "accept-license-agreement: yes")
	if a.status != http.StatusAccepted {
		t.Fatalf("create: status %d body %s", a.status, a.body)
	}
	created := decode(t, a.body)
	id := created["service"].(map[string]any)["id"].(string)
	clusterID := created["cluster_id"].(string)
	if list := string(f.get(t, "/services").body); !strings.Contains(list, id) {
		t.Fatalf("new service %s not listed: %s", id, list)
	}
	f.get(t, "/clusters/"+clusterID)
	task := decode(t, do(t, f.c, "POST", f.base+"/clusters/"+clusterID+"/backups/cos/enable",
		`{"cos_endpoint": "e", "bucket_instance_crn": "b"}`, xAuth(f.tok)).body)["task_id"].(string)
	f.get(t, "/clusters/"+clusterID+"/tasks/"+task)
	if a := do(t, f.c, "DELETE", f.base+"/services/"+id, "", xAuth(f.tok)); a.status != 200 {
		t.Fatalf("delete: status %d", a.status)
	}
	if list := string(f.get(t, "/services").body); strings.Contains(list, id) {
		t.Errorf("deleted service still listed")
	}
	wantError(t, do(t, f.c, "GET", f.base+"/clusters/"+clusterID, "", xAuth(f.tok)), 404)
}

func TestV1Routes(t *testing.T) {
	f := newFixture(t, Options{})
	v1 := f.s.URL() + "/api/v1/" + f.s.UserID()
	cases := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/services", "", 200},
		{"GET", "/clusters/" + f.pg + "/databases", "", 200},
		{"POST", "/clusters/" + f.pg + "/databases", `{"name": "d2"}`, 202},
		{"POST", "/clusters/" + f.pg + "/databases", `{"size": 1}`, 400},
		{"DELETE", "/clusters/" + f.pg + "/databases/d2", "", 202},
		{"POST", "/clusters/" + f.pg + "/users", `{"name": "u2", "password": "p"}`, 202},
		{"DELETE", "/clusters/" + f.pg + "/users/u2", "", 202},
		{"POST", "/nodes/" + f.node + "/restart", "", 202},
		{"POST", "/instances/" + f.node + "/stop", "", 202},
		{"POST", "/instances/" + f.node + "/start", "", 202},
		{"POST", "/instances/nope/start", "", 404},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
			a := do(t, f.c, tc.method, v1+tc.path, tc.body, xAuth(f.tok))
			if tc.want >= 400 {
				wantError(t, a, tc.want)
				return
			}
			if a.status != tc.want {
				t.Fatalf("status %d, want %d (body %s)", a.status, tc.want, a.body)
			}
		})
	}
}

func TestUnknownPaths(t *testing.T) {
	f := newFixture(t, Options{})
	for _, path := range []string{"/", "/api", "/api/v4/auth/token", "/api/v9/" + f.s.UserID() + "/services", "/other"} {
		t.Run(path, func(t *testing.T) {
			wantError(t, do(t, f.c, "GET", f.s.URL()+path, "", xAuth(f.tok)), 404)
		})
	}
}
