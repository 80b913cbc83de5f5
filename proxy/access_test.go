package proxy_test

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// accessLine returns the access line ("message":"request") of request id in logs.
func accessLine(t *testing.T, logs, id string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["message"] == "request" && m["request_id"] == id {
			return m
		}
	}
	t.Fatalf("no access line for request %s in:\n%s", id, logs)
	return nil
}

// TestAccessLineFields: the access line has the route (the metrics' path template, never the
// ids of the path), the User-Agent capped at 256 bytes without splitting a character, and
// its durations in fields named for their unit.
func TestAccessLineFields(t *testing.T) {
	long := strings.Repeat("a", 300)
	splitAt256 := strings.Repeat("b", 255) + "é" + "tail" // é's two bytes straddle byte 256
	tests := []struct {
		name, path, ua, wantUA, wantRoute string
	}{
		{"short user agent", "/api/v3/" + fuzzUser + "/clusters/c-42/users", "curl/8.5.0", "curl/8.5.0",
			"/api/v3/{user_id}/clusters/{cluster_id}/users"},
		{"long user agent", "/api/v3/" + fuzzUser + "/services", long, long[:256], "/api/v3/{user_id}/services"},
		{"cap inside a character", "/api/v3/me/services", splitAt256, splitAt256[:255], "/api/v3/{user_id}/services"},
		{"no user agent", "/favicon.ico", "", "", "other"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEdge(t, edgeSetup{})
			id := "access-" + string(rune('a'+i))
			hdr := []string{"X-Request-Id: " + id}
			if tt.ua != "" {
				hdr = append(hdr, "User-Agent: "+tt.ua)
			}
			e.raw(t, "GET", tt.path, hdr, "")
			e.record(t) // Observe runs after the access line is written
			m := accessLine(t, e.logs.String(), id)
			if m["template"] != tt.wantRoute {
				t.Errorf("template %q, want %q", m["template"], tt.wantRoute)
			}
			if ua, _ := m["user_agent"].(string); ua != tt.wantUA {
				t.Errorf("user_agent %q (%d bytes), want %q (%d bytes)", ua, len(ua), tt.wantUA, len(tt.wantUA))
			}
			for _, f := range []string{"duration_ms", "upstream_duration_ms"} {
				if _, ok := m[f].(float64); !ok {
					t.Errorf("%s is %v, want a number of milliseconds", f, m[f])
				}
			}
			for f := range m {
				if strings.Contains(f, "duration") && !strings.HasSuffix(f, "_ms") {
					t.Errorf("duration field %q has no unit in its name", f)
				}
			}
		})
	}
}

// TestErrorLogAcceptErrorsAtWarn: running out of file descriptors shows at info level: an
// accept error goes out at warn even from a debug-level ErrorLog; other lines keep the level.
func TestErrorLogAcceptErrorsAtWarn(t *testing.T) {
	var buf strings.Builder
	l := proxy.ErrorLog(zerolog.New(&buf).Level(zerolog.InfoLevel), zerolog.DebugLevel)
	l.Print("http: TLS handshake error from 127.0.0.1:1: EOF")
	l.Print("http: Accept error: accept tcp 127.0.0.1:20000: accept4: too many open files; retrying in 5ms")
	if got := buf.String(); !strings.Contains(got, `"level":"warn"`) || !strings.Contains(got, "too many open files") ||
		strings.Contains(got, "handshake") {
		t.Errorf("log = %s, want only the accept error, at warn", got)
	}
}

// TestAccessLineEscapesClientValues: a User-Agent with bidirectional-text and C1 controls is
// written escaped, in a line a terminal shows as it is.
func TestAccessLineEscapesClientValues(t *testing.T) {
	e := newEdge(t, edgeSetup{})
	e.raw(t, "GET", "/api/v3/me/services", []string{"X-Request-Id: esc-1", "User-Agent: a\u202eb\u0085c"}, "")
	e.record(t)
	if ua := accessLine(t, e.logs.String(), "esc-1")["user_agent"]; ua != `a\u202eb\u0085c` {
		t.Errorf("user_agent %q, want the controls escaped", ua)
	}
}
