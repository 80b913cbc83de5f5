package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const maxJSONBody = 1 << 20 // largest JSON request body the emulator accepts

// createRequest is the body of POST /services.
type createRequest struct {
	Name          string   `json:"name"`
	Catalog       string   `json:"catalog"`
	ResourceGroup string   `json:"resource_group"`
	Plan          string   `json:"plan"`
	AdminName     string   `json:"admin_name"`
	Password      string   `json:"password"`
	CPU           any      `json:"cpu"`
	Memory        string   `json:"memory"`
	Storage       string   `json:"storage"`
	Tags          []string `json:"tags"`
}

func listServices(e *exchange, t *tenant, _ params) {
	t.mu.RLock()
	b := t.servicesJSON
	t.mu.RUnlock()
	e.writeJSON(http.StatusOK, b)
}

func getService(e *exchange, t *tenant, p params) {
	if svc := t.service(p[0]); svc != nil {
		e.writeJSON(http.StatusOK, svc.json)
		return
	}
	e.fail(http.StatusNotFound, "no such service")
}

func deleteService(e *exchange, t *tenant, p params) {
	if svc := t.removeService(p[0]); svc != nil {
		e.writeJSON(http.StatusOK, svc.json)
		return
	}
	e.fail(http.StatusNotFound, "no such service")
}

// createService answers 202 with the new service, which appears in the list at once.
func createService(e *exchange, t *tenant, _ params) {
	if !strings.EqualFold(e.r.Header.Get("Accept-License-Agreement"), "yes") {
		e.fail(http.StatusBadRequest, "the license agreement must be accepted (header accept-license-agreement: yes)")
		return
	}
	var req createRequest
	if !e.decodeJSON(&req) {
		return
	}
	cpu, cpuOK := toInt(req.CPU, 1)
	switch {
	case req.Name == "":
		e.fail(http.StatusBadRequest, "name is needed")
		return
	case req.Catalog != catalogPostgres && req.Catalog != catalogMongo:
		e.fail(http.StatusBadRequest, "catalog must be "+catalogPostgres+" or "+catalogMongo)
		return
	case !cpuOK:
		e.fail(http.StatusBadRequest, "cpu must be a positive whole number")
		return
	}
	spec := newServiceSpec{
		name: req.Name, catalog: req.Catalog, plan: or(req.Plan, "standard"),
		group: or(req.ResourceGroup, "default"), cpu: cpu, memory: or(req.Memory, "2GiB"),
		storage: or(req.Storage, "5GiB"), tags: req.Tags, state: "PROVISIONING",
		at: e.s.now(), seed: "svc-" + randomHex(8),
	}
	if spec.tags == nil {
		spec.tags = []string{}
	}
	e.writeJSON(http.StatusAccepted, t.addService(spec).json)
}

func getCluster(e *exchange, t *tenant, p params) {
	if c := e.cluster(t, p[0]); c != nil {
		e.writeJSON(http.StatusOK, t.read(func() []byte { return c.json }))
	}
}

// clusterDoc answers a document of the cluster that never changes.
func clusterDoc(doc func(*cluster) []byte) func(*exchange, *tenant, params) {
	return func(e *exchange, t *tenant, p params) {
		if c := e.cluster(t, p[0]); c != nil {
			e.writeJSON(http.StatusOK, doc(c))
		}
	}
}

func getDBUser(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	if c == nil {
		return
	}
	if b, ok := c.userDetail[p[1]]; ok {
		e.writeJSON(http.StatusOK, b)
		return
	}
	e.fail(http.StatusNotFound, "no such database user")
}

func getConfiguration(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	switch {
	case c == nil:
	case c.dbType != "postgresql":
		e.fail(http.StatusBadRequest, "configuration is only available for PostgreSQL clusters")
	default:
		e.writeJSON(http.StatusOK, t.read(func() []byte { return c.config }))
	}
}

func getTasks(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	if c == nil {
		return
	}
	t.mu.RLock()
	b := c.tasksJSON
	t.mu.RUnlock()
	e.writeJSON(http.StatusOK, b)
}

func getTask(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	if c == nil {
		return
	}
	t.mu.RLock()
	b, ok := c.taskJSON[p[1]]
	t.mu.RUnlock()
	if !ok {
		e.fail(http.StatusNotFound, "no such task")
		return
	}
	e.writeJSON(http.StatusOK, b)
}

// clusterTask answers a long-running cluster operation with 202 {"task_id"}. required names
// the member the JSON object body must have: "" means no body is needed.
func clusterTask(kind, required string) func(*exchange, *tenant, params) {
	return func(e *exchange, t *tenant, p params) {
		c := e.cluster(t, p[0])
		if c == nil || !e.checkBody(required) {
			return
		}
		e.writeJSON(http.StatusAccepted, taskAnswer(t.addTask(c, kind, e.s.now(), nil)))
	}
}

// nodeTask answers a v1 node operation with 202 {"task_id"}.
func nodeTask(kind string) func(*exchange, *tenant, params) {
	return func(e *exchange, t *tenant, p params) {
		c := t.clusterOfNode(p[0])
		if c == nil {
			e.fail(http.StatusNotFound, "no such node")
			return
		}
		e.writeJSON(http.StatusAccepted, taskAnswer(t.addTask(c, kind, e.s.now(), map[string]any{"node_id": p[0]})))
	}
}

func taskAnswer(id string) []byte { return []byte(`{"task_id": "` + id + `"}`) }

// cluster returns the cluster or answers 404.
func (e *exchange) cluster(t *tenant, id string) *cluster {
	c := t.cluster(id)
	if c == nil {
		e.fail(http.StatusNotFound, "no such cluster")
	}
	return c
}

// checkBody validates the body as a JSON object with member required (see clusterTask).
func (e *exchange) checkBody(required string) bool {
	if required == "" {
		return true
	}
	var m map[string]json.RawMessage
	if !e.decodeJSON(&m) {
		return false
	}
	if v, ok := m[required]; !ok || string(v) == "null" {
		e.fail(http.StatusBadRequest, "the body needs "+strconv.Quote(required))
		return false
	}
	return true
}

// decodeJSON reads the whole body (at most maxJSONBody bytes) as one JSON object into v, or
// answers 400 (413 when too large).
func (e *exchange) decodeJSON(v any) bool {
	if e.body == nil {
		e.fail(http.StatusBadRequest, "the request body must be a JSON object")
		return false
	}
	b, err := io.ReadAll(http.MaxBytesReader(e.w, e.r.Body, maxJSONBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		e.fail(http.StatusRequestEntityTooLarge, "the request body is too large")
		return false
	case err != nil:
		e.fail(http.StatusBadRequest, "the request body could not be read")
		return false
	}
	if s := strings.TrimSpace(string(b)); !strings.HasPrefix(s, "{") || json.Unmarshal(b, v) != nil {
		e.fail(http.StatusBadRequest, "the request body must be a JSON object")
		return false
	}
	return true
}

// toInt reads a JSON number or numeric string; nil gives def.
func toInt(v any, def int) (int, bool) {
	switch x := v.(type) {
	case nil:
		return def, true
	case float64:
		return int(x), x >= 1 && x == float64(int(x))
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil && n >= 1
	}
	return 0, false
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
