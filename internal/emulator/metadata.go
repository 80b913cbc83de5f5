package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metadataVersion is the version the metadata service's calls must name.
const metadataVersion = "2022-03-01"

// metadataService is the VPC instance metadata service: plain HTTP on a loopback port of its
// own, answering IBM's two calls (PUT /instance_identity/v1/token, then POST
// /instance_identity/v1/iam_token with the instance identity token) with tokens of the
// trusted profile. Errors have the VPC API's shape: {"errors": [{"code", "message"}], "trace"}.
type metadataService struct {
	s        *Server
	srv      *http.Server
	ln       net.Listener
	disabled atomic.Bool
	calls    atomic.Int64
	mu       sync.Mutex
	ids      map[string]time.Time // instance identity tokens and their expiry
}

// startMetadata listens on a loopback port and serves the metadata service.
func (s *Server) startMetadata() error {
	ln, err := net.Listen("tcp", defaultAddr)
	if err != nil {
		return err
	}
	m := &metadataService{s: s, ln: ln, ids: map[string]time.Time{}}
	m.srv = &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(debugWriter{s.log}, "", 0)}
	go func() { _ = m.srv.Serve(ln) }()
	s.metadata = m
	return nil
}

// MetadataURL returns the base URL of the metadata service, "http://127.0.0.1:PORT" (with
// Options.Metadata; "" without).
func (s *Server) MetadataURL() string {
	if s.metadata == nil {
		return ""
	}
	return "http://" + s.metadata.ln.Addr().String()
}

// SetMetadataDisabled turns the metadata service off, as it is by default on an instance: a
// disabled service closes every connection without an answer.
func (s *Server) SetMetadataDisabled(off bool) { s.metadata.disabled.Store(off) }

// MetadataCalls returns how many requests reached the metadata service.
func (s *Server) MetadataCalls() int64 { return s.metadata.calls.Load() }

func (m *metadataService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.calls.Add(1)
	if m.disabled.Load() {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	switch {
	case r.Header.Get("Metadata-Flavor") != "ibm":
		m.fail(w, http.StatusBadRequest, "missing_metadata_flavor", "The Metadata-Flavor header must be ibm.")
	case r.URL.Query().Get("version") != metadataVersion:
		m.fail(w, http.StatusBadRequest, "bad_version", "The version query parameter must be "+metadataVersion+".")
	case r.Method == http.MethodPut && r.URL.Path == "/instance_identity/v1/token":
		m.identity(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/instance_identity/v1/iam_token":
		m.iamToken(w, r)
	default:
		m.fail(w, http.StatusNotFound, "not_found", "No such operation.")
	}
}

// identity answers a new instance identity token.
func (m *metadataService) identity(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ExpiresIn int64 `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxFormBody)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		m.fail(w, http.StatusBadRequest, "bad_body", "The body is not valid JSON.")
		return
	}
	life := time.Duration(max(min(body.ExpiresIn, 3600), 5)) * time.Second
	now := m.s.now()
	tok := "instance-identity-" + randomHex(24)
	m.mu.Lock()
	m.ids[tok] = now.Add(life)
	m.mu.Unlock()
	m.answer(w, tok, now, life)
}

// iamToken trades an instance identity token for an IAM token of the trusted profile that
// the body names, or of the instance's default profile (the emulator's one profile).
func (m *metadataService) iamToken(w http.ResponseWriter, r *http.Request) {
	id, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	m.mu.Lock()
	exp, ok := m.ids[id]
	m.mu.Unlock()
	if !ok || !m.s.now().Before(exp) {
		m.fail(w, http.StatusUnauthorized, "invalid_token", "The instance identity token is missing, unknown or expired.")
		return
	}
	var body struct {
		Profile struct{ ID, CRN string } `json:"trusted_profile"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxFormBody)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		m.fail(w, http.StatusBadRequest, "bad_body", "The body is not valid JSON.")
		return
	}
	m.s.auth.mu.RLock()
	p := m.s.auth.profile
	m.s.auth.mu.RUnlock()
	if (body.Profile.ID != "" && body.Profile.ID != p.id) || (body.Profile.CRN != "" && body.Profile.CRN != p.crn()) {
		m.fail(w, http.StatusBadRequest, "trusted_profile_not_linked", "The trusted profile is not linked to this instance.")
		return
	}
	tok, err := m.s.auth.issue(p.account, m.s.now(), grantCRToken)
	if err != nil {
		m.fail(w, http.StatusInternalServerError, "internal_error", "Internal error.")
		return
	}
	m.answer(w, tok.token, time.Unix(tok.iat, 0), time.Duration(tok.exp-tok.iat)*time.Second)
}

// answer writes the VPC API's token answer.
func (m *metadataService) answer(w http.ResponseWriter, tok string, created time.Time, life time.Duration) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(mustJSON(map[string]any{"access_token": tok, "created_at": created.UTC().Format(time.RFC3339),
		"expires_at": created.Add(life).UTC().Format(time.RFC3339), "expires_in": int64(life / time.Second)}))
}

// fail writes the VPC API's error shape.
func (m *metadataService) fail(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(mustJSON(map[string]any{"errors": []map[string]string{{"code": errCode, "message": msg}}, "trace": randomHex(16)}))
}
