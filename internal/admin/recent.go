package admin

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/proxy"
)

// Recent keeps copies of the last N records for the status page; concurrency-safe, nil: none.
type Recent struct {
	mu      sync.Mutex
	n       int
	buf     []proxy.Record // oldest first
	minutes [chartMinutes]minute
	classes [6]int64 // requests by status class (index status/100), since start
}

// chartMinutes is how far back the status page's charts go.
const chartMinutes = 15

// minute counts the requests that arrived in one minute (Unix time / 60), for the charts.
type minute struct{ at, requests, errors int64 }

// NewRecent returns a Recent that keeps the last n records; n < 1 means 1.
func NewRecent(n int) *Recent {
	if n < 1 {
		n = 1
	}
	return &Recent{n: n}
}

// Add stores a copy of rec (nil: ignored), dropping the oldest record when the buffer is full.
func (r *Recent) Add(rec *proxy.Record) {
	if r == nil || rec == nil {
		return
	}
	r.mu.Lock()
	at := rec.Time.Unix() / 60
	m := &r.minutes[at%chartMinutes]
	if m.at != at {
		*m = minute{at: at}
	}
	m.requests++
	if rec.Status >= 500 {
		m.errors++
	}
	if c := rec.Status / 100; c >= 1 && c <= 5 {
		r.classes[c]++
	}
	r.buf = append(r.buf, *rec)
	if len(r.buf) > r.n {
		r.buf = r.buf[1:]
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
	out := slices.Clone(r.buf)
	slices.Reverse(out)
	return out
}

// perMinute returns the requests and 5xx of each of the last chartMinutes minutes, oldest first.
func (r *Recent) perMinute(now time.Time) (requests, errors []int64) {
	requests, errors = make([]int64, chartMinutes), make([]int64, chartMinutes)
	if r == nil {
		return requests, errors
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	last := now.Unix() / 60
	for i := range requests {
		at := last - chartMinutes + 1 + int64(i)
		if m := r.minutes[at%chartMinutes]; m.at == at {
			requests[i], errors[i] = m.requests, m.errors
		}
	}
	return requests, errors
}

// counts returns the requests added so far by status class ("2xx": n, ...); nil when none.
func (r *Recent) counts() map[string]int64 {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]int64, 5)
	for c := 1; c <= 5; c++ {
		m[strconv.Itoa(c)+"xx"] = r.classes[c]
	}
	return m
}
