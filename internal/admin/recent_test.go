package admin

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

func TestRecent(t *testing.T) {
	tests := []struct {
		name string
		size int
		adds int
		want []string // IDs, newest first
	}{
		{"empty", 3, 0, []string{}},
		{"partly filled", 3, 2, []string{"1", "0"}},
		{"exactly full", 3, 3, []string{"2", "1", "0"}},
		{"wrapped once", 3, 4, []string{"3", "2", "1"}},
		{"wrapped twice", 3, 8, []string{"7", "6", "5"}},
		{"size below one", 0, 2, []string{"1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecent(tt.size)
			for i := range tt.adds {
				r.Add(&proxy.Record{ID: fmt.Sprint(i)})
			}
			got := []string{}
			for _, rec := range r.Snapshot() {
				got = append(got, rec.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecentCopies(t *testing.T) {
	r := NewRecent(2)
	rec := &proxy.Record{Path: "/a"}
	r.Add(rec)
	rec.Path = "/changed"
	snap := r.Snapshot()
	snap[0].Path = "/also-changed"
	if got := r.Snapshot()[0].Path; got != "/a" {
		t.Fatalf("stored record changed to %q", got)
	}
}

func TestRecentNil(t *testing.T) {
	var r *Recent
	r.Add(&proxy.Record{})
	if got := r.Snapshot(); got != nil {
		t.Fatalf("nil Recent: %v", got)
	}
	NewRecent(1).Add(nil) // must not panic
}

func TestRecentConcurrent(t *testing.T) {
	r := NewRecent(16)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				r.Add(&proxy.Record{ID: fmt.Sprint(w, "-", i), Status: 200})
				if i%50 == 0 {
					if n := len(r.Snapshot()); n > 16 {
						t.Errorf("snapshot of %d records", n)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := len(r.Snapshot()); n != 16 {
		t.Fatalf("%d records after 2000 adds, want 16", n)
	}
}
