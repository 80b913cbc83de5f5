package emulator

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is a misbehaviour injected into the answers to some requests. The parts apply in this
// order: Latency, then Drop, else Status, else ResetAfter, else the real answer.
type Fault struct {
	Latency    time.Duration // wait this long before answering (ending early if the client goes away)
	Status     int           // if non-zero, answer this status with the JSON error body (IAM's shape on IAM) instead of the real answer
	RetryAfter time.Duration // with Status: send Retry-After with this many whole seconds (IAM throttling: 429 and 3s)
	Drop       bool          // close the connection without any response (an HTTP/2 stream is reset)
	ResetAfter int64         // if > 0: send 200 with the Content-Length of the full answer and this many body bytes, then abort the connection
	Times      int           // apply this many times, then the fault removes itself; 0 = until cleared
}

// faultSet holds the faults by path prefix.
type faultSet struct {
	n  atomic.Int32 // len(m), so that the common case takes no lock
	mu sync.Mutex
	m  map[string]*faultEntry
}

type faultEntry struct {
	f    Fault
	left int // applications left when f.Times > 0
}

// SetFault injects f into the answers to requests whose escaped path starts with pathPrefix
// ("" = every request, the token exchange included). Faults are checked before anything else.
// A fault on the same prefix replaces the previous one; when several prefixes match, the
// longest wins.
func (s *Server) SetFault(pathPrefix string, f Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.m == nil {
		s.faults.m = make(map[string]*faultEntry)
	}
	s.faults.m[pathPrefix] = &faultEntry{f: f, left: f.Times}
	s.faults.n.Store(int32(len(s.faults.m)))
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	clear(s.faults.m)
	s.faults.n.Store(0)
	s.faults.mu.Unlock()
}

// take returns the fault for path, using up one of its applications.
func (fs *faultSet) take(path string) (Fault, bool) {
	if fs.n.Load() == 0 {
		return Fault{}, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	best, found := "", false
	for p := range fs.m {
		if strings.HasPrefix(path, p) && (!found || len(p) > len(best)) {
			best, found = p, true
		}
	}
	if !found {
		return Fault{}, false
	}
	e := fs.m[best]
	if e.f.Times > 0 {
		if e.left--; e.left <= 0 {
			delete(fs.m, best)
			fs.n.Store(int32(len(fs.m)))
		}
	}
	return e.f, true
}

// applyFault carries out f and reports whether the request has been answered (or abandoned).
func (e *exchange) applyFault(f Fault) bool {
	if f.Latency > 0 && !e.wait(f.Latency) {
		return true
	}
	switch {
	case f.Drop:
		e.s.log.Debug().Str("path", e.path).Msg("emulator: fault drops the connection")
		if hj, ok := e.w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2: reset the stream
	case f.Status != 0:
		if f.RetryAfter > 0 {
			e.w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
		}
		e.fail(f.Status, "injected fault")
		return true
	case f.ResetAfter > 0:
		e.resetAfter(f.ResetAfter)
		return true
	}
	return false
}

// resetAfter announces the full answer, sends n bytes of it and aborts. The full answer is the
// log of a log download (its size from ?size=, else 1 MiB), else 2n bytes of LogContent("reset").
func (e *exchange) resetAfter(n int64) {
	name, size := "reset", 2*n
	if logName, ok := e.logDownloadName(); ok {
		name, size = logName, defaultLogSize
		if v, ok := e.logSize(); ok {
			size = v
		}
	}
	if n > size {
		n = size
	}
	h := e.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	e.writeHeader(http.StatusOK)
	if _, err := io.CopyN(e.w, LogContent(name, size), n); err == nil {
		_ = http.NewResponseController(e.w).Flush()
	}
	e.s.log.Debug().Str("path", e.path).Int64("sent", n).Int64("announced", size).
		Msg("emulator: fault aborts the answer")
	panic(http.ErrAbortHandler)
}
