package emulator

import (
	"strings"
	"testing"
)

// TestOperationsChangeState shows that the changing operations change what the reading
// ones answer, and that a secret sent to them is never answered back.
func TestOperationsChangeState(t *testing.T) {
	f := newFixture(t, Options{})
	mongo, pg := "/clusters/"+f.mongo, "/clusters/"+f.pg
	send := func(method, path, body string) map[string]any {
		t.Helper()
		a := do(t, f.c, method, f.base+path, body, xAuth(f.tok), "Content-Type: application/json")
		if a.status != 202 {
			t.Fatalf("%s %s: status %d body %s", method, path, a.status, a.body)
		}
		return decode(t, a.body)
	}
	getJSON := func(path string) map[string]any { t.Helper(); return decode(t, f.get(t, path).body) }

	steps := []struct {
		name  string
		do    func() string // returns the task id, if any
		check func(t *testing.T)
	}{
		{"mongo starts without backup to COS", func() string { return "" }, func(t *testing.T) {
			if got := getJSON(mongo)["is_cos_backup_enabled"]; got != false {
				t.Errorf("is_cos_backup_enabled %v", got)
			}
			if cos := getJSON(mongo + "/backups/configuration")["cos"].(map[string]any); len(cos) != 0 {
				t.Errorf("configuration %v, want an empty cos", cos)
			}
		}},
		{"enable", func() string {
			return send("POST", mongo+"/backups/cos/enable", `{"cos_hmac_keys":{"access_key_id":"AKID","secret_access_key":"TOPSECRET"},`+
				`"cos_endpoint":"s3.example","bucket_instance_crn":"crn:bucket"}`)["task_id"].(string)
		}, func(t *testing.T) {
			if got := getJSON(mongo)["is_cos_backup_enabled"]; got != true {
				t.Errorf("is_cos_backup_enabled %v", got)
			}
			cos := getJSON(mongo + "/backups/configuration")["cos"].(map[string]any)
			if cos["cos_endpoint"] != "s3.example" || cos["bucket_instance_crn"] != "crn:bucket" || cos["schedule"] != nil {
				t.Errorf("configuration %v, want the endpoint and bucket and no schedule (MongoDB)", cos)
			}
			if old := getJSON(mongo + "/backups/cos/configuration"); old["cos_endpoint"] != "s3.example" {
				t.Errorf("deprecated configuration %v", old)
			}
		}},
		{"disable", func() string { return send("POST", mongo+"/backups/cos/disable", "")["task_id"].(string) }, func(t *testing.T) {
			if got := getJSON(mongo)["is_cos_backup_enabled"]; got != false {
				t.Errorf("is_cos_backup_enabled %v", got)
			}
			if old := getJSON(mongo + "/backups/cos/configuration"); len(old) != 0 {
				t.Errorf("deprecated configuration %v, want {}", old)
			}
		}},
		{"update the schedule", func() string {
			return send("PUT", pg+"/backups/configuration", `{"cos":{"schedule":{"type":"frequency","value":"1W"}}}`)["task_id"].(string)
		}, func(t *testing.T) {
			cos := getJSON(pg + "/backups/configuration")["cos"].(map[string]any)
			if s := cos["schedule"].(map[string]any); s["value"] != "1w" || cos["cos_endpoint"] == "" {
				t.Errorf("configuration %v, want schedule 1w and the endpoint kept", cos)
			}
		}},
		{"scale", func() string {
			return send("PATCH", pg+"/resource", `{"resource":{"cpu":8,"storage":"64GiB"}}`)["task_id"].(string)
		}, func(t *testing.T) {
			res := getJSON(pg)["resource"].(map[string]any)
			if res["cpu"] != float64(8) || res["storage"] != "64GiB" || res["memory"] != "4GiB" {
				t.Errorf("resource %v, want cpu 8, storage 64GiB, memory unchanged", res)
			}
		}},
		{"configure", func() string {
			return send("PATCH", pg+"/configuration", `{"configuration":{"max_connections":321}}`)["task_id"].(string)
		}, func(t *testing.T) {
			p := getJSON(pg + "/configuration")["configuration"].(map[string]any)
			if v := p["max_connections"].(map[string]any)["value"]; v != float64(321) {
				t.Errorf("max_connections value %v, want 321", v)
			}
			if v := p["deadlock_timeout"].(map[string]any)["value"]; v != float64(1000) {
				t.Errorf("deadlock_timeout value %v, want unchanged 1000", v)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			task := st.do()
			st.check(t)
			if task == "" {
				return
			}
			cl := f.mongo
			if !strings.Contains(st.name, "able") {
				cl = f.pg
			}
			b := f.get(t, "/clusters/"+cl+"/tasks/"+task).body
			if strings.Contains(string(b), "TOPSECRET") || strings.Contains(string(b), "AKID") {
				t.Errorf("the task shows the HMAC keys: %s", b)
			}
			if !strings.Contains(string(f.get(t, "/clusters/"+cl+"/tasks").body), task) {
				t.Errorf("task %s is not listed", task)
			}
		})
	}
}
