package emulator

import (
	"strconv"
	"strings"
	"testing"
)

// sdkCase is one operation of IBM's Go SDK hpdbv3 as the SDK sends it, and the members of the
// answer its model reads, each "path:kind": a path of object members ("a.b"; "a[]" looks
// into every element of array a) and the JSON kind the model's field needs (s string,
// n whole number, b bool, o object, a array). A member of another kind fails the SDK's
// unmarshalling.
type sdkCase struct {
	op, method, path, body string
	headers                []string
	want                   int
	fields                 []string
}

// sdkCases lists the 18 operations in the order of the package doc comment.
func sdkCases(t *testing.T, f *fixture) []sdkCase {
	pg, mongo := "/clusters/"+f.pg, "/clusters/"+f.mongo
	backups := decode(t, f.get(t, pg+"/backups").body)["backups"].([]any)
	backupID := backups[0].(map[string]any)["id"].(string)
	json := []string{"Content-Type: application/json"}
	var config []string
	for _, p := range []string{"deadlock_timeout", "max_locks_per_transaction", "shared_buffers", "max_connections", "max_prepared_transactions"} {
		for _, m := range []string{"default:n", "description:s", "max:n", "min:n", "requires_restart:b", "type:s", "value:n"} {
			config = append(config, "configuration."+p+"."+m)
		}
	}
	task := []string{"task_id:s"}
	return []sdkCase{
		{"GetCluster", "GET", pg, "", nil, 200, []string{"id:s", "crn:s", "is_cos_backup_enabled:b", "region:s", "name:s",
			"state:s", "reason:s", "db_type:s", "db_version:s", "public_endpoint:s", "private_endpoint:s",
			"private_endpoint_type:s", "plan_id:s", "last_active:n", "log_url:s", "metric_url:s", "replica_count:n",
			"user_id:s", "resource.cpu:n", "resource.memory:s", "resource.storage:s", "resource.storage_used:s",
			"nodes[].id:s", "nodes[].replica_state:s", "nodes[].replication_lag:n", "nodes[].node_state:s",
			"nodes[].reason:s", "nodes[].stopped_reason:s", "nodes[].name:s", "nodes[].created_at:s",
			"nodes[].updated_at:s", "nodes[].is_metric_enabled:b", "nodes[].is_logging_enabled:b", "nodes[].user_id:s",
			"created_at:s", "updated_at:s"}},
		{"ListDatabases", "GET", pg + "/databases", "", nil, 200,
			[]string{"total_size:n", "databases[].name:s", "databases[].size_on_disk:n"}},
		{"ListUsers", "GET", mongo + "/users", "", nil, 200,
			[]string{"users[].name:s", "users[].auth_db:s", "users[].role_attributes:a"}},
		{"GetUser", "GET", mongo + "/users/admin.admin", "", nil, 200, []string{"name:s", "auth_db:s",
			"db_access[].db:s", "db_access[].privileges:a", "role_attributes:a"}},
		{"ScaleResources", "PATCH", pg + "/resource", `{"resource":{"cpu":4,"memory":"8GiB","storage":"16GiB"}}`,
			json, 202, task},
		{"GetConfiguration", "GET", pg + "/configuration", "", nil, 200, config},
		{"UpdateConfiguration", "PATCH", pg + "/configuration",
			`{"configuration":{"max_connections":200,"deadlock_timeout":2000}}`, json, 202, task},
		{"ListTasks", "GET", pg + "/tasks", "", nil, 200, []string{"tasks[].id:s", "tasks[].type:s", "tasks[].state:s",
			"tasks[].reason:s", "tasks[].started_at:s", "tasks[].finished_at:s"}},
		{"GetTask", "GET", pg + "/tasks/" + f.task, "", nil, 200, []string{"id:s", "type:s", "started_at:s",
			"finished_at:s", "reason:s", "state:s", "nodes[].id:s", "nodes[].state:s", "nodes[].reason:s",
			"nodes[].started_at:s", "nodes[].finished_at:s", "spec:o"}},
		{"ListBackups", "GET", pg + "/backups", "", nil, 200,
			[]string{"backups[].id:s", "backups[].type:s", "backups[].created_at:s"}},
		{"EnableCosBackup", "POST", mongo + "/backups/cos/enable", `{"cos_hmac_keys":{"access_key_id":"ak",` +
			`"secret_access_key":"sk"},"cos_endpoint":"s3.eu-de.cloud-object-storage.appdomain.cloud",` +
			`"bucket_instance_crn":"crn:v1:bluemix:public:cloud-object-storage:global:a/x:y:bucket:b"}`, json, 202, task},
		{"DisableCosBackup", "POST", mongo + "/backups/cos/disable", "", nil, 202, task},
		{"GetCosBackupConfig", "GET", pg + "/backups/cos/configuration", "", nil, 200,
			[]string{"cos_endpoint:s", "bucket_instance_crn:s"}},
		{"GetBackupConfig", "GET", pg + "/backups/configuration", "", nil, 200, []string{"cos.cos_endpoint:s",
			"cos.bucket_instance_crn:s", "cos.schedule.type:s", "cos.schedule.value:s"}},
		{"UpdateBackupConfig", "PUT", pg + "/backups/configuration", `{"cos":{"schedule":{"type":"frequency","value":"1D"}}}`,
			json, 202, task},
		{"Restore", "POST", pg + "/restore", `{"source_type":"default","backup_id":"` + backupID + `"}`, json, 202, task},
		{"ListNodeLogs", "GET", "/nodes/" + f.node + "/logs", "", nil, 200,
			[]string{"logs[].filename:s", "logs[].size:n", "logs[].last_modified:s"}},
		{"GetLog", "GET", "/nodes/" + f.node + "/logs/postgresql.log?size=1000", "", nil, 200, nil},
	}
}

// TestSDKOperations sends every operation of hpdbv3 the way the SDK does (Accept:
// application/json, Authorization: Bearer, Content-Type only with a body) and checks the
// members its model reads.
func TestSDKOperations(t *testing.T) {
	f := newFixture(t, Options{})
	cases := sdkCases(t, f)
	if len(cases) != 18 {
		t.Fatalf("%d operations, want the SDK's 18", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			hs := append([]string{bearer(f.tok), "Accept: application/json", "User-Agent: hpdb-go-sdk/0.2.2"}, tc.headers...)
			a := do(t, f.c, tc.method, f.base+tc.path, tc.body, hs...)
			if a.status != tc.want {
				t.Fatalf("status %d, want %d (body %s)", a.status, tc.want, a.body)
			}
			if tc.fields == nil { // GetLog: the raw file
				if len(a.body) != 1000 {
					t.Errorf("log of %d bytes, want 1000", len(a.body))
				}
				return
			}
			m := decode(t, a.body)
			for _, fld := range tc.fields {
				path, kind, _ := strings.Cut(fld, ":")
				if msg := checkMember(m, strings.Split(path, "."), kind); msg != "" {
					t.Errorf("%s: %s in %s", path, msg, a.body)
				}
			}
		})
	}
}

// checkMember checks that the member at path has the JSON kind, in every element of arrays
// marked "[]" (which must not be empty); it returns what is wrong, or "".
func checkMember(v any, path []string, kind string) string {
	if len(path) == 0 {
		return checkKind(v, kind)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "not inside an object"
	}
	name, each := strings.CutSuffix(path[0], "[]")
	child, ok := obj[name]
	if !ok {
		return "missing"
	}
	if !each {
		return checkMember(child, path[1:], kind)
	}
	list, ok := child.([]any)
	if !ok || len(list) == 0 {
		return "not a non-empty array"
	}
	for i, el := range list {
		if msg := checkMember(el, path[1:], kind); msg != "" {
			return "element " + strconv.Itoa(i) + ": " + msg
		}
	}
	return ""
}

func checkKind(v any, kind string) string {
	ok := false
	switch kind {
	case "s":
		_, ok = v.(string)
	case "n":
		n, isNum := v.(float64)
		ok = isNum && n == float64(int64(n))
	case "b":
		_, ok = v.(bool)
	case "o":
		_, ok = v.(map[string]any)
	case "a":
		_, ok = v.([]any)
	}
	if !ok {
		return "not of kind " + kind
	}
	return ""
}
