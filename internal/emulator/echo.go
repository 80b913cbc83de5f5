package emulator

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const maxChunks = 100000 // largest ?chunks= accepted

// echoReply is what the echo route answers: the request as it arrived.
type echoReply struct {
	Method     string      `json:"method"`
	Path       string      `json:"path"`
	RawQuery   string      `json:"raw_query"`
	Host       string      `json:"host"`
	Proto      string      `json:"proto"`
	Header     http.Header `json:"header"`
	BodyBytes  int64       `json:"body_bytes"`
	BodySHA256 string      `json:"body_sha256"`
}

// echoChunk is one line of a chunked echo.
type echoChunk struct {
	Chunk  int `json:"chunk"`
	Chunks int `json:"chunks"`
}

// echoQuery is the parsed query of the echo route.
type echoQuery struct {
	sleep, delay time.Duration
	status       int
	chunks       int
}

// echo answers any method on /api/{v}/{user_id}/_echo[/...] after authentication: it waits
// ?sleep=, reads the body to its end (hashing it, never holding it), then either answers
// echoReply with ?status= (200 by default) or streams ?chunks= JSON lines ?delay= apart.
func (e *exchange) echo() {
	q, ok := e.echoQuery()
	if !ok {
		e.fail(http.StatusBadRequest, "echo takes sleep and delay (Go durations), status (200-599) and chunks (1-100000)")
		return
	}
	if q.sleep > 0 && !e.wait(q.sleep) {
		return
	}
	n, sum := int64(0), emptySHA256
	if e.body != nil {
		if _, err := io.Copy(io.Discard, e.body); err != nil {
			e.s.log.Debug().Err(err).Str("path", e.path).Msg("emulator: echo body cut short")
			return
		}
		n, sum = e.body.sum()
	}
	switch {
	case q.chunks > 0:
		e.echoChunks(q)
		return
	case q.status == http.StatusNoContent || q.status == http.StatusNotModified:
		e.writeHeader(q.status) // no body allowed
		return
	}
	e.writeJSON(q.status, mustJSON(echoReply{
		Method: e.r.Method, Path: e.path, RawQuery: e.query, Host: e.r.Host, Proto: e.r.Proto,
		Header: e.r.Header, BodyBytes: n, BodySHA256: sum,
	}))
}

func (e *exchange) echoQuery() (echoQuery, bool) {
	q := echoQuery{status: http.StatusOK}
	vals, err := url.ParseQuery(e.query)
	if err != nil {
		return q, false
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
	}{{"sleep", &q.sleep}, {"delay", &q.delay}} {
		if s := vals.Get(d.key); s != "" {
			if *d.v, err = time.ParseDuration(s); err != nil || *d.v < 0 {
				return q, false
			}
		}
	}
	if s := vals.Get("status"); s != "" {
		if q.status, err = strconv.Atoi(s); err != nil || q.status < 200 || q.status > 599 {
			return q, false
		}
	}
	if s := vals.Get("chunks"); s != "" {
		if q.chunks, err = strconv.Atoi(s); err != nil || q.chunks < 1 || q.chunks > maxChunks {
			return q, false
		}
	}
	return q, true
}

// echoChunks streams q.chunks JSON lines, flushing each, q.delay apart.
func (e *exchange) echoChunks(q echoQuery) {
	e.w.Header().Set("Content-Type", "application/x-ndjson")
	e.w.Header().Set("X-Content-Type-Options", "nosniff")
	e.writeHeader(q.status)
	rc := http.NewResponseController(e.w)
	for i := range q.chunks {
		if i > 0 && q.delay > 0 && !e.wait(q.delay) {
			return
		}
		line := append(mustJSON(echoChunk{Chunk: i, Chunks: q.chunks}), '\n')
		if _, err := e.w.Write(line); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// wait sleeps for d and reports false if the request ended first.
func (e *exchange) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.r.Context().Done():
		return false
	}
}
