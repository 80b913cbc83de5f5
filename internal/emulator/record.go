package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	arrivalsKept   = 1000    // Requests keeps this many arrivals
	deliveriesKept = 1 << 16 // Deliveries remembers this many request ids, oldest forgotten first
	emptySHA256    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Counters counts what the emulator answered since Start or the last ResetCounters.
type Counters struct {
	TokenExchanges int64 // token requests answered 200
	TokenRejected  int64 // token requests answered 4xx (wrong method and injected faults included)
	TokenRequests  int64 // all token requests, faults included
	Requests       int64 // all other requests, whatever the path
	Unauthorized   int64 // other requests answered BadTokenStatus, by a token check, a fault or echo ?status=
	Forbidden      int64 // other requests answered ForeignUserStatus, likewise
	IAMExchanges   int64 // POST /identity/token answered 200
	IAMRejected    int64 // IAM requests answered 4xx (faults included)
	IAMRequests    int64 // all IAM requests, faults included
	Connections    int64 // connections accepted, on every listener, since Start
	IdleClosed     int64 // connections closed by the idle-close knob (SetIdleClose)
}

// Arrival is one request as it arrived.
type Arrival struct {
	Method     string
	Path       string      // the escaped path as on the wire, without the query
	RawQuery   string      // the query as on the wire, without "?"
	Header     http.Header // a copy of the request's header
	Host       string
	BodyBytes  int64  // body bytes the emulator read (it reads every body it acts on to the end)
	BodySHA256 string // hex SHA-256 of those bytes
	Proto      string // "HTTP/1.1" or "HTTP/2.0"
	Time       time.Time
}

// recorder keeps counters, the last arrivals and the deliveries per request id.
type recorder struct {
	tokenExchanges, tokenRejected, tokenRequests atomic.Int64
	requests, unauthorized, forbidden            atomic.Int64
	iamExchanges, iamRejected, iamRequests       atomic.Int64
	connections, idleClosed                      atomic.Int64

	mu       sync.Mutex
	arrivals [arrivalsKept]Arrival
	seqs     [arrivalsKept]uint64 // seqs[i] is the sequence number of arrivals[i]
	next     uint64               // sequence number of the next arrival, from 1

	delMu      sync.Mutex
	deliveries map[string]int
	delOrder   []string // ring of the ids in deliveries, oldest at delHead once full
	delHead    int
}

// arrive records r and returns its sequence number, for finish.
func (rc *recorder) arrive(r *http.Request, path, query string, at time.Time, bodyless bool) uint64 {
	a := Arrival{
		Method: r.Method, Path: path, RawQuery: query, Header: r.Header.Clone(),
		Host: r.Host, Proto: r.Proto, Time: at,
	}
	if bodyless {
		a.BodySHA256 = emptySHA256
	}
	rc.mu.Lock()
	rc.next++
	seq := rc.next
	i := seq % arrivalsKept
	rc.arrivals[i] = a
	rc.seqs[i] = seq
	rc.mu.Unlock()
	return seq
}

// finish fills in the body of arrival seq, unless it has been overwritten since.
func (rc *recorder) finish(seq uint64, n int64, sum string) {
	rc.mu.Lock()
	if i := seq % arrivalsKept; rc.seqs[i] == seq {
		rc.arrivals[i].BodyBytes = n
		rc.arrivals[i].BodySHA256 = sum
	}
	rc.mu.Unlock()
}

// delivered counts one request carrying id that passed authentication.
func (rc *recorder) delivered(id string) {
	if id == "" {
		return
	}
	rc.delMu.Lock()
	defer rc.delMu.Unlock()
	if _, ok := rc.deliveries[id]; !ok {
		if len(rc.delOrder) < deliveriesKept {
			rc.delOrder = append(rc.delOrder, id)
		} else {
			delete(rc.deliveries, rc.delOrder[rc.delHead])
			rc.delOrder[rc.delHead] = id
			rc.delHead = (rc.delHead + 1) % deliveriesKept
		}
	}
	rc.deliveries[id]++
}

// Counters returns a snapshot of the counters.
func (s *Server) Counters() Counters {
	rc := &s.rec
	return Counters{
		TokenExchanges: rc.tokenExchanges.Load(), TokenRejected: rc.tokenRejected.Load(),
		TokenRequests: rc.tokenRequests.Load(), Requests: rc.requests.Load(),
		Unauthorized: rc.unauthorized.Load(), Forbidden: rc.forbidden.Load(),
		IAMExchanges: rc.iamExchanges.Load(), IAMRejected: rc.iamRejected.Load(),
		IAMRequests: rc.iamRequests.Load(), Connections: rc.connections.Load(),
		IdleClosed: rc.idleClosed.Load(),
	}
}

// ResetCounters sets every counter to zero. Arrivals and deliveries are kept.
func (s *Server) ResetCounters() {
	rc := &s.rec
	for _, c := range []*atomic.Int64{&rc.tokenExchanges, &rc.tokenRejected, &rc.tokenRequests,
		&rc.requests, &rc.unauthorized, &rc.forbidden, &rc.iamExchanges, &rc.iamRejected,
		&rc.iamRequests, &rc.connections, &rc.idleClosed} {
		c.Store(0)
	}
}

// Requests returns the last 1000 requests that arrived, whatever their outcome, oldest first.
// BodyBytes and BodySHA256 of a request still being read cover what was read so far.
func (s *Server) Requests() []Arrival {
	rc := &s.rec
	rc.mu.Lock()
	defer rc.mu.Unlock()
	first := uint64(1)
	if rc.next > arrivalsKept {
		first = rc.next - arrivalsKept + 1
	}
	out := make([]Arrival, 0, rc.next-first+1)
	for seq := first; seq <= rc.next; seq++ {
		a := rc.arrivals[seq%arrivalsKept]
		a.Header = a.Header.Clone()
		out = append(out, a)
	}
	return out
}

// Deliveries returns how many requests carrying X-Request-Id requestID passed authentication
// and were acted on. It remembers the last 65536 distinct ids.
func (s *Server) Deliveries(requestID string) int {
	s.rec.delMu.Lock()
	defer s.rec.delMu.Unlock()
	return s.rec.deliveries[requestID]
}

// meter wraps a request body, hashing and counting what is read; at the end of the body (or
// at done) it stores the result in the arrival.
type meter struct {
	body io.ReadCloser
	h    hash.Hash
	n    int64
	rec  *recorder
	seq  uint64
	once sync.Once
}

func newMeter(body io.ReadCloser, rc *recorder, seq uint64) *meter {
	return &meter{body: body, h: sha256.New(), rec: rc, seq: seq}
}

// Read reads from the body, hashing what it returns.
func (m *meter) Read(p []byte) (int, error) {
	n, err := m.body.Read(p)
	if n > 0 {
		m.h.Write(p[:n])
		m.n += int64(n)
	}
	if err == io.EOF {
		m.done()
	}
	return n, err
}

// Close closes the body.
func (m *meter) Close() error { return m.body.Close() }

// done stores the count and hash so far in the arrival, once.
func (m *meter) done() {
	m.once.Do(func() { m.rec.finish(m.seq, m.n, hex.EncodeToString(m.h.Sum(nil))) })
}

// sum returns the count and hex hash of what was read.
func (m *meter) sum() (int64, string) { return m.n, hex.EncodeToString(m.h.Sum(nil)) }
