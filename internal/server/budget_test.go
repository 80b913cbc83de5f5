package server

import (
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
)

// TestRefusedPathCostsABudgetNotAnExchangeEach: 40 requests to a path the upstream always
// answers 401 cause the first exchange and a burst of 2 more, not 40; every client gets the
// upstream's own 401.
func TestRefusedPathCostsABudgetNotAnExchangeEach(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	h.serve(t)
	h.ready(t)
	h.em.SetFault("/api/v3/"+h.em.UserID()+"/services", emulator.Fault{Status: 401})
	before := h.tokenRequests(h.em.APIKey())
	for i := 0; i < 40; i++ {
		if code, body := get(t, h.url("/api/v3/me/services")); code != 401 {
			t.Fatalf("request %d: %d %s, want the upstream's 401", i, code, body)
		}
	}
	if got := h.tokenRequests(h.em.APIKey()) - before; got > 2 {
		t.Errorf("40 refused requests caused %d token exchanges, want at most the burst of 2", got)
	}
}
