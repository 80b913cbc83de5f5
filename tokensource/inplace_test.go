package tokensource

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
)

// sentRequests records each request a Transport hands its Base.
type sentRequests struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *sentRequests) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	return s.base.RoundTrip(req)
}

// TestTransportInPlace: with InPlace the first send is the caller's request itself, carrying
// the token; a replay is a clone with the new token and the body again; without InPlace every
// send is a clone and the caller's request is left as it was.
func TestTransportInPlace(t *testing.T) {
	payload := []byte(`{"name":"svc"}`)
	tests := []struct {
		name    string
		inPlace bool
		method  string
	}{
		{"InPlace GET", true, http.MethodGet},
		{"InPlace POST, body kept for the replay", true, http.MethodPost},
		{"clone GET", false, http.MethodGet},
		{"clone POST", false, http.MethodPost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, rejectTok1(http.StatusUnauthorized))
			c, _ := warmCached(t)
			sent := &sentRequests{base: up.srv.Client().Transport}
			tr := &Transport{Cache: c, Base: sent, InPlace: tt.inPlace}
			var body io.Reader
			if tt.method == http.MethodPost {
				body = io.MultiReader(bytes.NewReader(payload)) // no GetBody: kept by the transport
			}
			req, _ := http.NewRequestWithContext(ctxTimeout(t), tt.method, up.srv.URL+"/api/v3/u/services", body)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := up.requests()
			if resp.StatusCode != http.StatusOK || len(got) != 2 || len(sent.reqs) != 2 {
				t.Fatalf("status %d after %d requests, want 200 after 2", resp.StatusCode, len(got))
			}
			if first := sent.reqs[0] == req; first != tt.inPlace {
				t.Errorf("first send is the caller's request: %v, want %v", first, tt.inPlace)
			}
			if sent.reqs[1] == req {
				t.Error("the replay sent the caller's request, want a clone")
			}
			if a, b := got[0].header.Get("X-Auth-Token"), got[1].header.Get("X-Auth-Token"); a != "tok-1" || b != "tok-2" {
				t.Errorf("tokens sent: %q then %q, want tok-1 then tok-2", a, b)
			}
			if tt.method == http.MethodPost && (!bytes.Equal(got[0].body, payload) || !bytes.Equal(got[1].body, payload)) {
				t.Errorf("bodies %q and %q, want %q twice", got[0].body, got[1].body, payload)
			}
			if want := map[bool]string{true: "tok-1", false: ""}[tt.inPlace]; req.Header.Get("X-Auth-Token") != want {
				t.Errorf("the caller's request carries X-Auth-Token %q, want %q", req.Header.Get("X-Auth-Token"), want)
			}
		})
	}
}
