package emulator

import (
	"net/http"
	"slices"
	"strings"
)

// scheduleValues are the frequencies of backups to COS the API accepts ('h', 'd', 'w' in either case).
var scheduleValues = []string{"1h", "2h", "4h", "8h", "1d", "2d", "1w"}

// cosBody is the body of EnableCosBackup and the "cos" member of UpdateBackupConfig.
type cosBody struct {
	HMACKeys *struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	} `json:"cos_hmac_keys"`
	Endpoint  string          `json:"cos_endpoint"`
	BucketCRN string          `json:"bucket_instance_crn"`
	Schedule  *backupSchedule `json:"schedule"`
}

// check validates the parts of b that are present and reports what is wrong, or "".
func (b *cosBody) check(c *cluster) string {
	switch {
	case b.HMACKeys != nil && (b.HMACKeys.AccessKeyID == "" || b.HMACKeys.SecretAccessKey == ""):
		return "cos_hmac_keys needs access_key_id and secret_access_key"
	case b.Schedule == nil:
		return ""
	case c.dbType != "postgresql":
		return "a backup schedule is only supported for PostgreSQL clusters"
	case !slices.Contains(scheduleValues, strings.ToLower(b.Schedule.Value)):
		return "schedule.value must be one of " + strings.Join(scheduleValues, ", ")
	}
	return ""
}

// enableCosBackup turns on backup to COS: cos_endpoint and bucket_instance_crn are needed.
func enableCosBackup(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	var b cosBody
	if c == nil || !e.decodeJSON(&b) {
		return
	}
	msg := b.check(c)
	if b.Endpoint == "" || b.BucketCRN == "" {
		msg = "cos_endpoint and bucket_instance_crn are needed"
	}
	if msg != "" {
		e.fail(http.StatusBadRequest, msg)
		return
	}
	cfg := &cosConfig{Endpoint: b.Endpoint, BucketCRN: b.BucketCRN}
	if c.dbType == "postgresql" {
		cfg.Schedule = &backupSchedule{Type: "frequency", Value: "8h"}
		if b.Schedule != nil {
			cfg.Schedule = &backupSchedule{Type: or(b.Schedule.Type, "frequency"), Value: strings.ToLower(b.Schedule.Value)}
		}
	}
	t.change(c, func() { c.cos = cfg })
	e.writeJSON(http.StatusAccepted, taskAnswer(t.addTask(c, "enable_cos_backup", e.s.now(), cfg.spec())))
}

// disableCosBackup turns off backup to COS; the SDK sends no body, and none is needed.
func disableCosBackup(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	if c == nil {
		return
	}
	t.change(c, func() { c.cos = nil })
	e.writeJSON(http.StatusAccepted, taskAnswer(t.addTask(c, "disable_cos_backup", e.s.now(), nil)))
}

// getBackupConfig answers {"cos": {...}}; while backup to COS is off, {"cos": {}}.
func getBackupConfig(e *exchange, t *tenant, p params) {
	if c := e.cluster(t, p[0]); c != nil {
		e.writeJSON(http.StatusOK, t.read(func() []byte {
			if c.cos == nil {
				return []byte(`{"cos": {}}`)
			}
			return mustJSON(map[string]*cosConfig{"cos": c.cos})
		}))
	}
}

// getCosBackupConfig (deprecated) answers the endpoint and the bucket; while off, {}.
func getCosBackupConfig(e *exchange, t *tenant, p params) {
	if c := e.cluster(t, p[0]); c != nil {
		e.writeJSON(http.StatusOK, t.read(func() []byte {
			if c.cos == nil {
				return []byte(`{}`)
			}
			return mustJSON(cosConfig{Endpoint: c.cos.Endpoint, BucketCRN: c.cos.BucketCRN})
		}))
	}
}

// updateBackupConfig changes the parts of the COS backup configuration given in "cos".
func updateBackupConfig(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	var req struct {
		Cos *cosBody `json:"cos"`
	}
	if c == nil || !e.decodeJSON(&req) {
		return
	}
	if req.Cos == nil {
		e.fail(http.StatusBadRequest, `the body needs "cos"`)
		return
	}
	if msg := req.Cos.check(c); msg != "" {
		e.fail(http.StatusBadRequest, msg)
		return
	}
	var cfg *cosConfig
	t.change(c, func() {
		if c.cos == nil {
			return
		}
		next := *c.cos
		next.Endpoint, next.BucketCRN = or(req.Cos.Endpoint, next.Endpoint), or(req.Cos.BucketCRN, next.BucketCRN)
		if s := req.Cos.Schedule; s != nil {
			next.Schedule = &backupSchedule{Type: or(s.Type, "frequency"), Value: strings.ToLower(s.Value)}
		}
		c.cos, cfg = &next, &next
	})
	if cfg == nil {
		e.fail(http.StatusBadRequest, "backup to COS is off for this cluster: enable it first (POST .../backups/cos/enable)")
		return
	}
	e.writeJSON(http.StatusAccepted, taskAnswer(t.addTask(c, "update_backup_configuration", e.s.now(), cfg.spec())))
}

// restore restores a backup: source_type "default" (or none) needs the backup_id of one of
// the cluster's backups; "cos" needs cos_endpoint, bucket_instance_crn and backup_file.
func restore(e *exchange, t *tenant, p params) {
	c := e.cluster(t, p[0])
	var req struct {
		SourceType string `json:"source_type"`
		cosBody
		BackupFile string `json:"backup_file"`
		BackupID   string `json:"backup_id"`
	}
	if c == nil || !e.decodeJSON(&req) {
		return
	}
	var spec map[string]any
	switch req.SourceType {
	case "", "default":
		if req.BackupID == "" {
			e.fail(http.StatusBadRequest, "backup_id is needed (source_type default)")
			return
		}
		if !slices.Contains(c.backupIDs, req.BackupID) {
			e.fail(http.StatusNotFound, "no such backup")
			return
		}
		spec = map[string]any{"source_type": "default", "backup_id": req.BackupID}
	case "cos":
		if req.Endpoint == "" || req.BucketCRN == "" || req.BackupFile == "" {
			e.fail(http.StatusBadRequest, "cos_endpoint, bucket_instance_crn and backup_file are needed (source_type cos)")
			return
		}
		spec = map[string]any{"source_type": "cos", "cos_endpoint": req.Endpoint,
			"bucket_instance_crn": req.BucketCRN, "backup_file": req.BackupFile}
	default:
		e.fail(http.StatusBadRequest, `source_type must be "default" or "cos"`)
		return
	}
	e.writeJSON(http.StatusAccepted, taskAnswer(t.addTask(c, "restore", e.s.now(), spec)))
}

// spec is the task spec of a COS configuration.
func (cfg *cosConfig) spec() map[string]any {
	m := map[string]any{"cos_endpoint": cfg.Endpoint, "bucket_instance_crn": cfg.BucketCRN}
	if cfg.Schedule != nil {
		m["schedule"] = *cfg.Schedule
	}
	return m
}
