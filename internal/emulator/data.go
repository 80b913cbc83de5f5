package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// baseUnix is when the generated resources of every account were created: 2024-03-01T09:00:00Z.
const baseUnix = 1709283600

func baseTime() time.Time { return time.Unix(baseUnix, 0).UTC() }

// store holds the resources of every account, created on first use.
type store struct {
	mu      sync.RWMutex
	tenants map[string]*tenant
}

// tenant is one account's resources. Answers are rendered when the data changes, not per request.
type tenant struct {
	id           string
	mu           sync.RWMutex
	services     []*service
	clusters     map[string]*cluster
	servicesJSON []byte
}

type service struct {
	item serviceItem
	json []byte
}

type cluster struct {
	id         string
	dbType     string
	info       clusterInfo
	json       []byte
	databases  []byte
	users      []byte
	userDetail map[string][]byte
	config     []byte                 // nil for MongoDB
	params     map[string]configParam // the configuration; nil for MongoDB
	cos        *cosConfig             // nil while backup to COS is off
	backups    []byte
	backupIDs  []string
	tasks      []taskInfo
	tasksJSON  []byte
	taskJSON   map[string][]byte
}

// tenant returns the account's resources, generating them on first use.
func (st *store) tenant(accountID string) *tenant {
	st.mu.RLock()
	t := st.tenants[accountID]
	st.mu.RUnlock()
	if t != nil {
		return t
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if t = st.tenants[accountID]; t == nil {
		t = newTenant(accountID)
		st.tenants[accountID] = t
	}
	return t
}

// newTenant generates two services, one PostgreSQL and one MongoDB, each with a 3-node cluster.
func newTenant(accountID string) *tenant {
	t := &tenant{id: accountID, clusters: make(map[string]*cluster)}
	t.addService(newServiceSpec{
		name: "postgres-orders", catalog: catalogPostgres, plan: "standard", group: "default",
		cpu: 2, memory: "4GiB", storage: "10GiB", tags: []string{"env:test"},
		state: "PROVISIONED", at: baseTime(), seed: "svc-0",
	})
	t.addService(newServiceSpec{
		name: "mongo-catalog", catalog: catalogMongo, plan: "standard", group: "default",
		cpu: 1, memory: "2GiB", storage: "5GiB", tags: []string{},
		state: "PROVISIONED", at: baseTime().Add(26 * time.Hour), seed: "svc-1",
	})
	return t
}

// cluster returns a cluster of the account, or nil.
func (t *tenant) cluster(id string) *cluster {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.clusters[id]
}

// clusterOfNode returns the cluster holding node id, or nil.
func (t *tenant) clusterOfNode(id string) *cluster {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, c := range t.clusters {
		for _, n := range c.info.Nodes {
			if n.ID == id {
				return c
			}
		}
	}
	return nil
}

// addService creates a service and its cluster and returns the service.
func (t *tenant) addService(spec newServiceSpec) *service {
	c := newCluster(t.id, spec)
	svc := &service{item: serviceItem{
		Service: serviceInfo{
			ID: uuidFrom(t.id, spec.seed), Name: spec.name, CRN: crn(t.id, spec.catalog, uuidFrom(t.id, spec.seed)),
			Catalog: spec.catalog, Plan: spec.plan, Region: region, ResourceGroup: spec.group,
			State: "active", Tags: spec.tags, CreatedAt: stamp(spec.at),
		},
		ClusterID: c.id,
	}}
	svc.json = mustJSON(svc.item)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.services = append(t.services, svc)
	t.clusters[c.id] = c
	t.renderServicesLocked()
	return svc
}

// removeService deletes a service and its cluster; it returns the service, or nil.
func (t *tenant) removeService(id string) *service {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, svc := range t.services {
		if svc.item.Service.ID == id {
			t.services = append(t.services[:i:i], t.services[i+1:]...)
			delete(t.clusters, svc.item.ClusterID)
			t.renderServicesLocked()
			return svc
		}
	}
	return nil
}

// service returns a service by id, or nil.
func (t *tenant) service(id string) *service {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, svc := range t.services {
		if svc.item.Service.ID == id {
			return svc
		}
	}
	return nil
}

func (t *tenant) renderServicesLocked() {
	items := make([]serviceItem, len(t.services))
	for i, svc := range t.services {
		items[i] = svc.item
	}
	t.servicesJSON = mustJSON(struct {
		Services []serviceItem `json:"services"`
	}{items})
}

// read returns a document of the tenant's data under its read lock.
func (t *tenant) read(doc func() []byte) []byte {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return doc()
}

// change applies f to cluster c under the tenant's lock and renders c again.
func (t *tenant) change(c *cluster, f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f()
	c.renderLocked()
}

// addTask records a finished task on c with its parameters (no secrets) and returns its id.
func (t *tenant) addTask(c *cluster, kind string, now time.Time, spec map[string]any) string {
	task := taskInfo{
		ID: randomUUID(), Type: kind, State: "SUCCEEDED", Reason: "",
		StartedAt: stamp(now), FinishedAt: stamp(now), Spec: spec,
	}
	for _, n := range c.info.Nodes {
		task.Nodes = append(task.Nodes, taskNode{ID: n.ID, Name: n.Name, State: "SUCCEEDED",
			StartedAt: task.StartedAt, FinishedAt: task.FinishedAt})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c.tasks = append(c.tasks, task)
	c.renderTasksLocked()
	return task.ID
}

// mustJSON encodes v, which holds only strings, numbers, slices and maps of them.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("emulator: encode %T: %v", v, err))
	}
	return b
}

// uuidFrom derives a stable UUID-shaped id from an account and a label.
func uuidFrom(accountID, label string) string {
	sum := sha256.Sum256([]byte(accountID + "/" + label))
	return uuidString(sum[:16])
}

// hexFrom derives a stable 32-hex-digit id from an account and a label.
func hexFrom(accountID, label string) string {
	sum := sha256.Sum256([]byte(accountID + "/" + label))
	return hex.EncodeToString(sum[:16])
}

// randomUUID returns a random version-4 UUID.
func randomUUID() string {
	b, _ := hex.DecodeString(randomHex(16)) // cannot fail: randomHex returns valid hex
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuidString(b)
}

func uuidString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
