// Package emulator is a fake of the IBM Cloud Hyper Protect DBaaS Manager API, served over real
// TLS on loopback, for the tests of dbaas-proxy, for `dbaas-proxy demo` and for benchmarks.
//
// It follows /work/shared/dbaas-api.md: the token exchange (GET /api/{v}/auth/token with an
// api_key header, answering a JWT-shaped access token and the account id), every v3 resource
// route with plausible per-account data (v1 and v2 route to the same handlers; v1 also creates
// and deletes databases and database users and starts, stops and restarts nodes), log downloads
// of any size streamed from LogContent, and an echo route under /api/{v}/{user_id}/_echo that
// reports what arrived.
//
// # IAM
//
// POST /identity/token answers IBM Cloud IAM's apikey grant (grant_type
// urn:ibm:params:oauth:grant-type:apikey, apikey), compute-resource grant (grant_type
// urn:ibm:params:oauth:grant-type:cr-token, cr_token, profile_id, profile_crn or profile_name)
// and assume grant (grant_type urn:ibm:params:oauth:grant-type:assume, access_token, then the
// profile as for cr-token, with account beside profile_name) with
// access_token, refresh_token, token_type, expires_in, expiration and scope; errors have IAM's
// shape (errorCode, errorMessage, errorDetails, context.requestId) and status 400. It needs
// Content-Type application/x-www-form-urlencoded and an Accept allowing application/json.
// Its access tokens are the emulator's own, accepted by the API like those of /auth/token. By
// default IAM is served on the API's listener; Options.SeparateIAM gives it a listener and a
// CA of its own (IAMURL, IAMCAPEM). A Fault with Status 429 and RetryAfter throttles it as
// IBM's IAM does.
//
// # The VPC instance metadata service
//
// With Options.Metadata, plain HTTP on a loopback port of its own (MetadataURL) answers IBM's
// two calls, PUT /instance_identity/v1/token and POST /instance_identity/v1/iam_token
// (?version=2022-03-01, Metadata-Flavor: ibm), the second with the identity token as Bearer
// and an optional {"trusted_profile": {"id" | "crn": ...}}, with tokens of the trusted
// profile; errors have the VPC API's shape. SetMetadataDisabled makes it close every
// connection unanswered, as a service that is off.
//
// # The operations of IBM's Go SDK (hpdbv3)
//
// The 18 operations of github.com/IBM/hpdb-go-sdk/hpdbv3, all below /api/v3/{user_id}, answer
// the members its models read:
//
//	GetCluster           GET    /clusters/{cluster_id}
//	ListDatabases        GET    /clusters/{cluster_id}/databases
//	ListUsers            GET    /clusters/{cluster_id}/users
//	GetUser              GET    /clusters/{cluster_id}/users/{db_user_id}   (MongoDB: auth_db.name)
//	ScaleResources       PATCH  /clusters/{cluster_id}/resource             (changes the cluster)
//	GetConfiguration     GET    /clusters/{cluster_id}/configuration        (PostgreSQL)
//	UpdateConfiguration  PATCH  /clusters/{cluster_id}/configuration        (changes the values)
//	ListTasks            GET    /clusters/{cluster_id}/tasks
//	GetTask              GET    /clusters/{cluster_id}/tasks/{task_id}
//	ListBackups          GET    /clusters/{cluster_id}/backups
//	EnableCosBackup      POST   /clusters/{cluster_id}/backups/cos/enable
//	DisableCosBackup     POST   /clusters/{cluster_id}/backups/cos/disable  (no body)
//	GetCosBackupConfig   GET    /clusters/{cluster_id}/backups/cos/configuration (deprecated)
//	GetBackupConfig      GET    /clusters/{cluster_id}/backups/configuration
//	UpdateBackupConfig   PUT    /clusters/{cluster_id}/backups/configuration
//	Restore              POST   /clusters/{cluster_id}/restore
//	ListNodeLogs         GET    /nodes/{node_id}/logs
//	GetLog               GET    /nodes/{node_id}/logs/{log_name}
//
// The generated PostgreSQL cluster backs up to COS, the MongoDB one does not. The answers to
// the changing operations while backup to COS is off, and the schedule type "frequency", are
// the emulator's choice; the public record does not show them.
//
// # Knobs
//
// Tests steer it through the Server's methods: extra or removed API keys, accepted CR tokens
// and the trusted profile, revocation of every token issued so far, token lifetime, injected
// faults (latency, error status, dropped connection, truncated body) on chosen path prefixes,
// closing of idle keep-alive connections (SetIdleClose), stopping and resuming the listener
// on the same address (StopListening, ResumeListening), counters, the last 1000 arrivals and
// the number of deliveries per X-Request-Id.
//
// All methods of Server are safe for concurrent use. A token check on the request path is a
// map lookup under a read lock; answers of static resources are rendered once, not per request.
package emulator
