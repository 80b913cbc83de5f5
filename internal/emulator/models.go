package emulator

import (
	"fmt"
	"strconv"
	"time"
)

const (
	catalogPostgres = "hyperp-dbaas-postgresql"
	catalogMongo    = "hyperp-dbaas-mongodb"
	region          = "us-south"
	host            = "dbaas900.hyperp-dbaas.cloud.ibm.com"
	privateHost     = "dbaas900.private.hyperp-dbaas.cloud.ibm.com"
)

// newServiceSpec describes a service to create.
type newServiceSpec struct {
	name, catalog, plan, group string
	cpu                        int
	memory, storage            string
	tags                       []string
	state                      string // of the cluster
	at                         time.Time
	seed                       string // derives the ids
}

type serviceItem struct {
	Service   serviceInfo `json:"service"`
	ClusterID string      `json:"cluster_id"`
}

type serviceInfo struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	CRN           string   `json:"crn"`
	Catalog       string   `json:"catalog"`
	Plan          string   `json:"plan"`
	Region        string   `json:"region"`
	ResourceGroup string   `json:"resource_group"`
	State         string   `json:"state"`
	Tags          []string `json:"tags"`
	CreatedAt     string   `json:"created_at"`
}

// clusterInfo is the SDK's Cluster (no external_key: the emulator's clusters use no KMS key).
type clusterInfo struct {
	ID                  string       `json:"id"`
	CRN                 string       `json:"crn"`
	IsCosBackupEnabled  bool         `json:"is_cos_backup_enabled"`
	Region              string       `json:"region"`
	Name                string       `json:"name"`
	State               string       `json:"state"`
	Reason              string       `json:"reason"`
	DBType              string       `json:"db_type"`
	DBVersion           string       `json:"db_version"`
	PublicEndpoint      string       `json:"public_endpoint"`
	PrivateEndpoint     string       `json:"private_endpoint"`
	PrivateEndpointType string       `json:"private_endpoint_type"`
	PlanID              string       `json:"plan_id"`
	LastActive          int64        `json:"last_active"`
	LogURL              string       `json:"log_url"`
	MetricURL           string       `json:"metric_url"`
	ReplicaCount        int          `json:"replica_count"`
	UserID              string       `json:"user_id"`
	Resource            resourceInfo `json:"resource"`
	Nodes               []nodeInfo   `json:"nodes"`
	CreatedAt           string       `json:"created_at"`
	UpdatedAt           string       `json:"updated_at"`
}

type resourceInfo struct {
	CPU         int    `json:"cpu"`
	Memory      string `json:"memory"`
	Storage     string `json:"storage"`
	StorageUsed string `json:"storage_used"`
}

type nodeInfo struct {
	ID               string `json:"id"`
	ReplicaState     string `json:"replica_state"`
	ReplicationLag   int    `json:"replication_lag"`
	NodeState        string `json:"node_state"`
	Reason           string `json:"reason"`
	StoppedReason    string `json:"stopped_reason"`
	Name             string `json:"name"`
	CreatedAt        string `json:"created_at"`
	UpdatedAt        string `json:"updated_at"`
	IsMetricEnabled  bool   `json:"is_metric_enabled"`
	IsLoggingEnabled bool   `json:"is_logging_enabled"`
	UserID           string `json:"user_id"`
}

type database struct {
	Name       string `json:"name"`
	SizeOnDisk int64  `json:"size_on_disk"`
}

type dbAccess struct {
	DB         string   `json:"db"`
	Privileges []string `json:"privileges"`
}

type dbUser struct {
	Name           string     `json:"name"`
	AuthDB         string     `json:"auth_db"`
	DBAccess       []dbAccess `json:"db_access,omitempty"`
	RoleAttributes []string   `json:"role_attributes"`
}

type configParam struct {
	Default         int    `json:"default"`
	Description     string `json:"description"`
	Max             int    `json:"max"`
	Min             int    `json:"min"`
	RequiresRestart bool   `json:"requires_restart"`
	Type            string `json:"type"`
	Value           int    `json:"value"`
}

// taskInfo is the SDK's Task; in a task list (TaskItem) Nodes and Spec are left out.
type taskInfo struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	State      string         `json:"state"`
	Reason     string         `json:"reason"`
	StartedAt  string         `json:"started_at"`
	FinishedAt string         `json:"finished_at"`
	Nodes      []taskNode     `json:"nodes,omitempty"`
	Spec       map[string]any `json:"spec,omitempty"` // the task's parameters, never a secret
}

type taskNode struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	State      string `json:"state"`
	Reason     string `json:"reason"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at"`
}

// cosConfig is a cluster's backup to IBM Cloud Object Storage. The HMAC keys are not kept.
type cosConfig struct {
	Endpoint  string          `json:"cos_endpoint"`
	BucketCRN string          `json:"bucket_instance_crn"`
	Schedule  *backupSchedule `json:"schedule,omitempty"` // PostgreSQL only
}

type backupSchedule struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type backup struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	CreatedAt string `json:"created_at"`
}

// newCluster generates a 3-node cluster for spec, its documents rendered.
func newCluster(accountID string, spec newServiceSpec) *cluster {
	id := hexFrom(accountID, spec.seed+"/cluster")
	port := 20000 + int(id[0])*37%9000
	c := &cluster{id: id, dbType: "postgresql", userDetail: make(map[string][]byte), taskJSON: make(map[string][]byte)}
	version := "postgresql 13"
	if spec.catalog == catalogMongo {
		c.dbType, version = "mongodb", "mongodb 4.4"
	}
	c.info = clusterInfo{
		ID: id, CRN: crn(accountID, spec.catalog, uuidFrom(accountID, spec.seed)), Region: region,
		Name: spec.name, State: spec.state, DBType: c.dbType, DBVersion: version,
		PublicEndpoint:  host + ":" + strconv.Itoa(port),
		PrivateEndpoint: privateHost + ":" + strconv.Itoa(port), PrivateEndpointType: "private-and-public",
		PlanID: uuidFrom("plan", spec.plan), LastActive: 0,
		LogURL:    "https://cloud.ibm.com/observe/logging",
		MetricURL: "https://cloud.ibm.com/observe/monitoring", ReplicaCount: 3, UserID: accountID,
		Resource:  resourceInfo{CPU: spec.cpu, Memory: spec.memory, Storage: spec.storage, StorageUsed: "0.19GiB"},
		CreatedAt: stamp(spec.at), UpdatedAt: stamp(spec.at.Add(5 * time.Minute)),
	}
	for i := range 3 {
		n := nodeInfo{
			ID: hexFrom(accountID, fmt.Sprintf("%s/node-%d", spec.seed, i)), ReplicaState: "SECONDARY",
			NodeState: "RUNNING", Name: fmt.Sprintf("dbaas%d-%d", 55+i, port),
			CreatedAt: stamp(spec.at), UpdatedAt: stamp(spec.at.Add(5 * time.Minute)),
			IsMetricEnabled: true, IsLoggingEnabled: true, UserID: accountID,
		}
		if i == 0 {
			n.ReplicaState = "PRIMARY"
		}
		c.info.Nodes = append(c.info.Nodes, n)
	}
	c.renderContents(accountID, spec)
	if c.dbType == "postgresql" && spec.state == "PROVISIONED" { // the generated PostgreSQL cluster backs up to COS
		c.cos = &cosConfig{Endpoint: "s3.us-south.cloud-object-storage.appdomain.cloud",
			BucketCRN: "crn:v1:bluemix:public:cloud-object-storage:global:a/" + accountID + ":" +
				uuidFrom(accountID, spec.seed+"/cos") + ":bucket:dbaas-backups",
			Schedule: &backupSchedule{Type: "frequency", Value: "8h"}}
	}
	c.renderLocked()
	c.tasks = []taskInfo{{
		ID: uuidFrom(accountID, spec.seed+"/task-0"), Type: "create_cluster", State: "SUCCEEDED",
		StartedAt: stamp(spec.at), FinishedAt: stamp(spec.at.Add(5 * time.Minute)),
		Spec: map[string]any{"name": spec.name, "db_type": c.dbType, "replica_count": 3,
			"resource": map[string]any{"cpu": spec.cpu, "memory": spec.memory, "storage": spec.storage}},
	}}
	for _, n := range c.info.Nodes {
		c.tasks[0].Nodes = append(c.tasks[0].Nodes, taskNode{ID: n.ID, Name: n.Name, State: "SUCCEEDED",
			StartedAt: c.tasks[0].StartedAt, FinishedAt: c.tasks[0].FinishedAt})
	}
	c.renderTasksLocked()
	return c
}

// renderContents renders the databases, users, configuration and backups of c.
func (c *cluster) renderContents(accountID string, spec newServiceSpec) {
	dbs := []database{{"postgres", 8_405_603}, {"orders", 83_886_080}}
	users := []dbUser{
		{Name: "admin", RoleAttributes: []string{"CREATEDB", "CREATEROLE"},
			DBAccess: []dbAccess{{"postgres", []string{"ALL"}}, {"orders", []string{"ALL"}}}},
		{Name: "app", RoleAttributes: []string{}, DBAccess: []dbAccess{{"orders", []string{"CONNECT", "TEMPORARY"}}}},
	}
	if c.dbType == "mongodb" {
		dbs = []database{{"admin", 180_224}, {"config", 110_592}, {"local", 3_325_952}, {"catalog", 41_943_040}}
		users = []dbUser{
			{Name: "admin", AuthDB: "admin", RoleAttributes: []string{"root"},
				DBAccess: []dbAccess{{"admin", []string{"root"}}}},
			{Name: "app", AuthDB: "catalog", RoleAttributes: []string{},
				DBAccess: []dbAccess{{"catalog", []string{"readWrite"}}}},
		}
	}
	var total int64
	for _, d := range dbs {
		total += d.SizeOnDisk
	}
	c.databases = mustJSON(struct {
		TotalSize int64      `json:"total_size"`
		Databases []database `json:"databases"`
	}{total, dbs})
	list := make([]dbUser, len(users))
	for i, u := range users {
		id := u.Name // GetUser's db_user_id: "username" for PostgreSQL, "auth_db.username" for MongoDB
		if c.dbType == "mongodb" {
			id = u.AuthDB + "." + u.Name
		}
		c.userDetail[id] = mustJSON(u)
		list[i] = dbUser{Name: u.Name, AuthDB: u.AuthDB, RoleAttributes: u.RoleAttributes}
	}
	c.users = mustJSON(struct {
		Users []dbUser `json:"users"`
	}{list})
	if c.dbType == "postgresql" {
		c.params = postgresConfig()
	}
	var bs []backup
	for i := range 3 {
		bs = append(bs, backup{ID: hexFrom(accountID, fmt.Sprintf("%s/backup-%d", spec.seed, i)),
			Type: "scheduled", CreatedAt: stamp(spec.at.Add(time.Duration(i+1) * 24 * time.Hour))})
		c.backupIDs = append(c.backupIDs, bs[i].ID)
	}
	c.backups = mustJSON(struct {
		Backups []backup `json:"backups"`
	}{bs})
}

// postgresConfig is the configuration a PostgreSQL cluster reports: the five parameters of
// the SDK's ConfigurationItem, each an IntegerType.
func postgresConfig() map[string]configParam {
	return map[string]configParam{
		"deadlock_timeout": {Default: 1000, Description: "Sets the time to wait on a lock before checking for deadlock (ms).",
			Max: 60000, Min: 100, Type: "integer", Value: 1000},
		"max_locks_per_transaction": {Default: 64, Description: "Sets the maximum number of locks per transaction.",
			Max: 2147483647, Min: 10, RequiresRestart: true, Type: "integer", Value: 64},
		"shared_buffers": {Default: 32768, Description: "Sets the number of shared memory buffers used by the server (8kB pages).",
			Max: 1073741823, Min: 16, RequiresRestart: true, Type: "integer", Value: 32768},
		"max_connections": {Default: 115, Description: "Sets the maximum number of concurrent connections.",
			Max: 500, Min: 115, RequiresRestart: true, Type: "integer", Value: 115},
		"max_prepared_transactions": {Default: 0, Description: "Sets the maximum number of simultaneously prepared transactions.",
			Max: 262143, Min: 0, RequiresRestart: true, Type: "integer", Value: 0},
	}
}

// renderLocked renders the cluster and its configuration after a change; the tenant's lock
// (if any) is held.
func (c *cluster) renderLocked() {
	c.info.IsCosBackupEnabled = c.cos != nil
	c.json = mustJSON(c.info)
	if c.params != nil {
		c.config = mustJSON(map[string]any{"configuration": c.params})
	}
}

// renderTasksLocked renders the task list and each task; the tenant's lock (if any) is held.
func (c *cluster) renderTasksLocked() {
	list := make([]taskInfo, len(c.tasks))
	for i, t := range c.tasks {
		c.taskJSON[t.ID] = mustJSON(t)
		t.Nodes, t.Spec = nil, nil
		list[i] = t
	}
	c.tasksJSON = mustJSON(struct {
		Tasks []taskInfo `json:"tasks"`
	}{list})
}

func crn(accountID, catalog, instance string) string {
	return "crn:v1:bluemix:public:" + catalog + ":" + region + ":a/" + accountID + ":" + instance + "::"
}
