package emulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The resource sizes ScaleResources accepts.
var (
	cpuValues     = []int64{1, 2, 3, 4, 5, 6, 8, 9, 12, 16}
	memoryValues  = []string{"2GiB", "3GiB", "4GiB", "5GiB", "8GiB", "12GiB", "16GiB", "24GiB", "32GiB", "64GiB", "96GiB", "128GiB"}
	storageValues = []string{"5GiB", "10GiB", "16GiB", "24GiB", "32GiB", "64GiB", "128GiB", "160GiB", "256GiB", "512GiB", "640GiB", "1280GiB"}
)

// scaleResources changes the cluster's cpu, memory and storage (those given) and answers 202.
func scaleResources(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	var req struct {
		Resource *struct {
			CPU     *int64  `json:"cpu"`
			Memory  *string `json:"memory"`
			Storage *string `json:"storage"`
		} `json:"resource"`
	}
	if c == nil || !e.decodeJSON(&req) {
		return
	}
	r := req.Resource
	var msg string
	switch {
	case r == nil || (r.CPU == nil && r.Memory == nil && r.Storage == nil):
		msg = `the body needs "resource" with cpu, memory or storage`
	case r.CPU != nil && !slices.Contains(cpuValues, *r.CPU):
		msg = "cpu must be one of 1, 2, 3, 4, 5, 6, 8, 9, 12, 16"
	case r.Memory != nil && !slices.Contains(memoryValues, *r.Memory):
		msg = "memory must be one of " + strings.Join(memoryValues, ", ")
	case r.Storage != nil && !slices.Contains(storageValues, *r.Storage):
		msg = "storage must be one of " + strings.Join(storageValues, ", ")
	}
	if msg != "" {
		e.fail(http.StatusBadRequest, msg)
		return
	}
	spec := map[string]any{}
	t.change(c, func() {
		res := &c.info.Resource
		if r.CPU != nil {
			res.CPU, spec["cpu"] = int(*r.CPU), *r.CPU
		}
		if r.Memory != nil {
			res.Memory, spec["memory"] = *r.Memory, *r.Memory
		}
		if r.Storage != nil {
			res.Storage, spec["storage"] = *r.Storage, *r.Storage
		}
	})
	e.writeJSON(http.StatusAccepted, taskAnswer(t.addTask(c, "update_resources", e.s.now(), map[string]any{"resource": spec})))
}

// updateConfiguration sets PostgreSQL parameters, each a whole number within its min and max.
func updateConfiguration(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	if c == nil {
		return
	}
	t.mu.RLock()
	params := c.params // replaced, never changed in place, under the tenant's lock
	t.mu.RUnlock()
	if c.dbType != "postgresql" {
		e.fail(http.StatusBadRequest, "configuration is only available for PostgreSQL clusters")
		return
	}
	var req struct {
		Configuration map[string]json.RawMessage `json:"configuration"`
	}
	if !e.decodeJSON(&req) {
		return
	}
	if len(req.Configuration) == 0 {
		e.fail(http.StatusBadRequest, `the body needs "configuration" with at least one parameter`)
		return
	}
	values := make(map[string]int64, len(req.Configuration))
	for _, name := range sortedKeys(req.Configuration) {
		def, ok := params[name] // the bounds never change
		if !ok {
			e.fail(http.StatusBadRequest, "unknown parameter "+strconv.Quote(name)+"; known: "+strings.Join(sortedKeys(params), ", "))
			return
		}
		var v int64
		if err := json.Unmarshal(req.Configuration[name], &v); err != nil || v < int64(def.Min) || v > int64(def.Max) {
			e.fail(http.StatusBadRequest, name+" must be a whole number from "+strconv.Itoa(def.Min)+" to "+strconv.Itoa(def.Max))
			return
		}
		values[name] = v
	}
	t.change(c, func() {
		next := make(map[string]configParam, len(c.params))
		for name, p := range c.params {
			if v, ok := values[name]; ok {
				p.Value = int(v)
			}
			next[name] = p
		}
		c.params = next
	})
	e.writeJSON(http.StatusAccepted, taskAnswer(t.addTask(c, "update_configuration", e.s.now(), map[string]any{"configuration": values})))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
