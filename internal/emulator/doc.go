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
// Tests steer it through the Server's methods: extra or removed API keys, revocation of every
// token issued so far, token lifetime, injected faults (latency, error status, dropped
// connection, truncated body) on chosen path prefixes, counters, the last 1000 arrivals and the
// number of deliveries per X-Request-Id.
//
// All methods of Server are safe for concurrent use. A token check on the request path is a
// map lookup under a read lock; answers of static resources are rendered once, not per request.
package emulator
