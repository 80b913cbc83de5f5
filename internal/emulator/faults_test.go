package emulator

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestFaultStatus(t *testing.T) {
	cases := []struct {
		name       string
		prefix     string
		fault      Fault
		path       string // below base, or absolute when it starts with /api/v3/auth
		wantStatus []int  // statuses of successive calls
	}{
		{"until cleared", "", Fault{Status: 503}, "/services", []int{503, 503, 503}},
		{"times two", "", Fault{Status: 500, Times: 2}, "/services", []int{500, 500, 200}},
		{"other prefix", "/api/v3/nobody", Fault{Status: 500}, "/services", []int{200, 200}},
		{"token endpoint", "/api/v3/auth/token", Fault{Status: 429, Times: 1}, "/api/v3/auth/token", []int{429, 200}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.s.SetFault(tc.prefix, tc.fault)
			url, hs := f.base+tc.path, []string{xAuth(f.tok)}
			if tc.path == "/api/v3/auth/token" {
				url, hs = f.s.URL()+tc.path, []string{"api_key: " + f.s.APIKey()}
			}
			for i, want := range tc.wantStatus {
				a := do(t, f.c, "GET", url, "", hs...)
				if want != 200 {
					wantError(t, a, want)
				} else if a.status != 200 {
					t.Fatalf("call %d: status %d, want 200", i, a.status)
				}
			}
		})
	}
}

func TestFaultLongestPrefixAndClear(t *testing.T) {
	f := newFixture(t, Options{})
	f.s.SetFault("/api/", Fault{Status: 500})
	f.s.SetFault("/api/v3/"+f.s.UserID()+"/clusters", Fault{Status: 502})
	wantError(t, do(t, f.c, "GET", f.base+"/clusters/"+f.pg, "", xAuth(f.tok)), 502)
	wantError(t, do(t, f.c, "GET", f.base+"/services", "", xAuth(f.tok)), 500)
	f.s.ClearFaults()
	if a := do(t, f.c, "GET", f.base+"/services", "", xAuth(f.tok)); a.status != 200 {
		t.Fatalf("after ClearFaults: status %d", a.status)
	}
}

func TestFaultInjectedCountsAsUnauthorized(t *testing.T) {
	f := newFixture(t, Options{})
	f.s.ResetCounters()
	f.s.SetFault("", Fault{Status: 401, Times: 1})
	wantError(t, do(t, f.c, "GET", f.base+"/services", "", xAuth(f.tok)), 401)
	if got := f.s.Counters(); got.Unauthorized != 1 || got.Requests != 1 {
		t.Errorf("counters %+v, want 1 request answered 401", got)
	}
	if n := f.s.Deliveries(""); n != 0 {
		t.Errorf("Deliveries(\"\") = %d", n)
	}
}

func TestFaultLatency(t *testing.T) {
	f := newFixture(t, Options{})
	f.s.SetFault("/api/v3/"+f.s.UserID()+"/services", Fault{Latency: 150 * time.Millisecond, Times: 1})
	begin := time.Now()
	if a := do(t, f.c, "GET", f.base+"/services", "", xAuth(f.tok)); a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Errorf("answered after %v, before the injected latency", d)
	}
}

func TestFaultLatencyEndsWithClient(t *testing.T) {
	s := start(t, Options{})
	c := newClient(t, s, clientOpts{timeout: 100 * time.Millisecond})
	s.SetFault("", Fault{Latency: time.Hour})
	if _, err := try(c, "GET", s.URL()+"/api/v3/auth/token", "", "api_key: "+s.APIKey()); err == nil {
		t.Fatal("answered despite an hour of latency")
	}
	// Close (in cleanup) must not wait the hour.
}

func TestFaultDrop(t *testing.T) {
	for _, h1 := range []bool{true, false} {
		t.Run(map[bool]string{false: "h2", true: "http1"}[h1], func(t *testing.T) {
			s := start(t, Options{})
			c := newClient(t, s, clientOpts{http1Only: h1, noReuse: true})
			s.SetFault("/api/v3/auth", Fault{Drop: true})
			_, err := try(c, "GET", s.URL()+"/api/v3/auth/token", "", "api_key: "+s.APIKey())
			if err == nil {
				t.Fatal("a dropped request got an answer")
			}
			if got := s.Counters(); got.TokenExchanges != 0 || got.TokenRequests == 0 {
				t.Errorf("counters %+v", got)
			}
			s.ClearFaults()
			tokenFor(t, s, c, s.APIKey())
		})
	}
}

func TestFaultResetAfter(t *testing.T) {
	cases := []struct {
		name      string
		h1        bool
		path      string
		after     int64
		wantTotal int64
		wantEOF   bool // io.ErrUnexpectedEOF exactly (HTTP/1.1); h2 reports a stream error
	}{
		{"log http1", true, "/nodes/n1/logs/big.log?size=100000", 4096, 100000, true},
		{"log default size http1", true, "/nodes/n1/logs/big.log", 1000, defaultLogSize, true},
		{"log h2", false, "/nodes/n1/logs/big.log?size=100000", 4096, 100000, false},
		{"other path http1", true, "/services", 100, 200, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{})
			c := newClient(t, s, clientOpts{http1Only: tc.h1})
			tok := tokenFor(t, s, c, s.APIKey())
			s.SetFault("/api/v3/"+s.UserID(), Fault{ResetAfter: tc.after, Times: 1})
			req, _ := http.NewRequest("GET", s.URL()+"/api/v3/"+s.UserID()+tc.path, nil)
			req.Header.Set("x-auth-token", tok)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.ContentLength != tc.wantTotal {
				t.Fatalf("status %d Content-Length %d, want 200 and %d", resp.StatusCode, resp.ContentLength, tc.wantTotal)
			}
			got, err := io.ReadAll(resp.Body)
			if err == nil || (tc.wantEOF && !errors.Is(err, io.ErrUnexpectedEOF)) {
				t.Fatalf("read error %v, want a truncated body", err)
			}
			if int64(len(got)) > tc.after || (tc.wantEOF && int64(len(got)) != tc.after) {
				t.Errorf("read %d bytes, want %d", len(got), tc.after)
			}
			name := "reset"
			if tc.path != "/services" {
				name = "big.log"
			}
			want, _ := io.ReadAll(LogContent(name, tc.wantTotal))
			if !bytes.HasPrefix(want, got) {
				t.Error("the bytes sent are not the start of the announced content")
			}
		})
	}
}
