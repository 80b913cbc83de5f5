package admin

import (
	"sync"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// Recent keeps copies of the last N records in a ring buffer, for the status page. It is safe
// for concurrent use; Add copies the record into a preallocated slot and does not allocate.
// A nil *Recent keeps nothing: Add does nothing and Snapshot returns nil.
type Recent struct {
	mu   sync.Mutex
	buf  []proxy.Record
	next int  // the slot the next Add writes
	full bool // every slot has been written at least once
}

// NewRecent returns a Recent that keeps the last n records; n < 1 means 1.
func NewRecent(n int) *Recent {
	if n < 1 {
		n = 1
	}
	return &Recent{buf: make([]proxy.Record, n)}
}

// Add stores a copy of rec, dropping the oldest record when the buffer is full. A nil rec is
// ignored.
func (r *Recent) Add(rec *proxy.Record) {
	if r == nil || rec == nil {
		return
	}
	r.mu.Lock()
	r.buf[r.next] = *rec
	r.next++
	if r.next == len(r.buf) {
		r.next = 0
		r.full = true
	}
	r.mu.Unlock()
}

// Snapshot returns copies of the stored records, newest first.
func (r *Recent) Snapshot() []proxy.Record {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]proxy.Record, n)
	for i := range out {
		j := r.next - 1 - i
		if j < 0 {
			j += len(r.buf)
		}
		out[i] = r.buf[j]
	}
	return out
}
