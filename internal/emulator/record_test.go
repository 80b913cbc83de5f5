package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
)

func TestCounters(t *testing.T) {
	f := newFixture(t, Options{})                                                      // 1 token exchange, 3 requests
	want := Counters{TokenExchanges: 1, TokenRequests: 1, Requests: 3, Connections: 1} // h2: one connection
	if got := f.s.Counters(); got != want {
		t.Fatalf("after the fixture: %+v, want %+v", got, want)
	}
	f.s.ResetCounters()
	steps := []struct {
		name    string
		call    func()
		counter func(Counters) int64
	}{
		{"exchange", func() { tokenFor(t, f.s, f.c, f.s.APIKey()) }, func(c Counters) int64 { return c.TokenExchanges }},
		{"rejected", func() { do(t, f.c, "GET", f.s.URL()+"/api/v1/auth/token", "") }, func(c Counters) int64 { return c.TokenRejected }},
		{"request", func() { f.get(t, "/services") }, func(c Counters) int64 { return c.Requests }},
		{"unauthorized", func() { do(t, f.c, "GET", f.base+"/services", "") }, func(c Counters) int64 { return c.Unauthorized }},
		{"forbidden", func() {
			do(t, f.c, "GET", f.s.URL()+"/api/v3/ffffffffffffffffffffffffffffffff/services", "", xAuth(f.tok))
		}, func(c Counters) int64 { return c.Forbidden }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := st.counter(f.s.Counters())
			st.call()
			if after := st.counter(f.s.Counters()); after != before+1 {
				t.Errorf("counter went from %d to %d", before, after)
			}
		})
	}
	if got := f.s.Counters(); got.TokenRequests != 2 || got.Requests != 3 {
		t.Errorf("totals %+v, want 2 token requests and 3 requests", got)
	}
}

func TestDeliveries(t *testing.T) {
	f := newFixture(t, Options{})
	cases := []struct {
		name    string
		headers []string
		path    string
		want    int
	}{
		{"resource", []string{xAuth(f.tok), "X-Request-Id: r1"}, "/services", 1},
		{"echo", []string{xAuth(f.tok), "X-Request-Id: r2"}, "/_echo", 1},
		{"bad token not delivered", []string{"x-auth-token: bad", "X-Request-Id: r3"}, "/services", 0},
		{"unknown route not delivered", []string{xAuth(f.tok), "X-Request-Id: r4"}, "/nothing", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			do(t, f.c, "GET", f.base+tc.path, "", tc.headers...)
			id := tc.headers[1][len("X-Request-Id: "):]
			if got := f.s.Deliveries(id); got != tc.want {
				t.Errorf("Deliveries(%s) = %d, want %d", id, got, tc.want)
			}
		})
	}
	do(t, f.c, "GET", f.base+"/services", "", xAuth(f.tok), "X-Request-Id: r1")
	if got := f.s.Deliveries("r1"); got != 2 {
		t.Errorf("Deliveries(r1) after a replay = %d, want 2", got)
	}
}

func TestRequests(t *testing.T) {
	f := newFixture(t, Options{})
	body := `{"configuration": {"max_connections": 150}}`
	do(t, f.c, "PATCH", f.base+"/clusters/"+f.pg+"/configuration?dry=1", body, xAuth(f.tok), "X-Trace: t1")
	do(t, f.c, "POST", f.base+"/services", `{"name": "n"}`, "x-auth-token: nope") // rejected, body still recorded
	do(t, f.c, "GET", f.base+"/_echo/a%2Fb", "", xAuth(f.tok))
	got := f.s.Requests()
	if len(got) != 4+3 { // 1 token exchange and 3 fixture requests come first
		t.Fatalf("%d arrivals, want 7", len(got))
	}
	sum := sha256.Sum256([]byte(body))
	patch, rejected, echo := got[4], got[5], got[6]
	if patch.Method != "PATCH" || patch.Path != "/api/v3/"+f.s.UserID()+"/clusters/"+f.pg+"/configuration" ||
		patch.RawQuery != "dry=1" || patch.BodyBytes != int64(len(body)) || patch.BodySHA256 != hex.EncodeToString(sum[:]) ||
		patch.Header.Get("X-Trace") != "t1" || patch.Proto != "HTTP/2.0" || patch.Host != f.s.Addr() || patch.Time.IsZero() {
		t.Errorf("patch arrival %+v", patch)
	}
	if rejected.BodyBytes != int64(len(`{"name": "n"}`)) {
		t.Errorf("rejected arrival has %d body bytes", rejected.BodyBytes)
	}
	if echo.Path != "/api/v3/"+f.s.UserID()+"/_echo/a%2Fb" || echo.BodySHA256 != emptySHA256 {
		t.Errorf("echo arrival path %q sha %s", echo.Path, echo.BodySHA256)
	}
	got[6].Header.Set("X-Mutated", "1")
	if f.s.Requests()[6].Header.Get("X-Mutated") != "" {
		t.Error("Requests shares its headers with the caller")
	}
}

func TestRequestsKeepsLast1000(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{})
	for i := range arrivalsKept + 5 {
		do(t, c, "GET", s.URL()+"/n/"+strconv.Itoa(i), "")
	}
	got := s.Requests()
	if len(got) != arrivalsKept || got[0].Path != "/n/5" || got[len(got)-1].Path != "/n/1004" {
		t.Fatalf("%d arrivals from %s to %s", len(got), got[0].Path, got[len(got)-1].Path)
	}
}

func TestDeliveriesForgetOldest(t *testing.T) {
	var rc recorder
	rc.deliveries = make(map[string]int)
	for i := range deliveriesKept + 1 {
		rc.delivered(strconv.Itoa(i))
	}
	rc.delivered(strconv.Itoa(deliveriesKept))
	if len(rc.deliveries) != deliveriesKept || rc.deliveries["0"] != 0 || rc.deliveries["1"] != 1 ||
		rc.deliveries[strconv.Itoa(deliveriesKept)] != 2 {
		t.Fatalf("%d ids kept; 0:%d 1:%d last:%d", len(rc.deliveries), rc.deliveries["0"], rc.deliveries["1"],
			rc.deliveries[strconv.Itoa(deliveriesKept)])
	}
}
