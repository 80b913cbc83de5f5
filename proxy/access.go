package proxy

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// requestIDHeader carries the request id: kept from the client when it sent a sane one,
// generated otherwise, forwarded upstream and returned to the client.
const requestIDHeader = "X-Request-Id"

// logAccess writes the request's one access line. The query string, which may hold ids a user
// would rather not keep in logs, is logged only at debug level.
func (h *Handler) logAccess(r *http.Request, rec *Record) {
	l := &h.opts.Logger
	if l.GetLevel() > zerolog.InfoLevel {
		return
	}
	ev := l.Info()
	if rec.Status >= http.StatusInternalServerError || rec.Status == statusAborted {
		ev = l.Warn()
	}
	ev.Str("request_id", rec.ID).
		Str("client", rec.Client).
		Str("method", rec.Method).
		Str("path", rec.Path).
		Int("status", rec.Status).
		Int64("bytes_in", rec.BytesIn).
		Int64("bytes_out", rec.BytesOut).
		Float64("duration_ms", ms(rec.Duration)).
		Float64("upstream_duration_ms", ms(rec.UpstreamDuration)).
		Bool("replayed", rec.Replayed)
	if rec.ClientName != "" {
		ev.Str("client_name", rec.ClientName)
	}
	if l.GetLevel() <= zerolog.DebugLevel && r.URL.RawQuery != "" {
		ev.Str("query", r.URL.RawQuery)
	}
	ev.Msg("request")
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// idGenerator makes request ids: a random per-process prefix and a counter, cheap enough for
// every request and unique across restarts.
type idGenerator struct {
	prefix string
	n      atomic.Uint64
}

func newIDGenerator() *idGenerator {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &idGenerator{prefix: hex.EncodeToString(b[:]) + "-"}
}

// fromRequest keeps the client's X-Request-Id when it is short and printable, so that a
// client's own ids show up in the logs and upstream; otherwise it makes one.
func (g *idGenerator) fromRequest(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); id != "" && len(id) <= 128 && printable(id) {
		return id
	}
	return g.prefix + strconv.FormatUint(g.n.Add(1), 10)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// countingWriter records the status and the body bytes of the response. It passes Flush and
// Hijack through (via Unwrap for http.ResponseController, and directly for older callers), so
// streamed responses are flushed as they arrive.
type countingWriter struct {
	http.ResponseWriter
	rec    *Record
	status int
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		w.keepID()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
		w.keepID()
	}
	n, err := w.ResponseWriter.Write(b)
	w.rec.BytesOut += int64(n)
	return n, err
}

// keepID sets the request id on the final response again: the ReverseProxy clears the
// response headers after relaying an upstream 1xx (100 Continue, 103 Early Hints).
func (w *countingWriter) keepID() {
	if h := w.Header(); h.Get(requestIDHeader) == "" {
		h.Set(requestIDHeader, w.rec.ID)
	}
}

// Flush sends any buffered data to the client.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets the caller take over the connection (101 Switching Protocols upgrades).
func (w *countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols // the only reason the proxy hijacks
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the request body bytes read. The transport may read the body on a
// goroutine of its own, so the count is atomic.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// ErrorLog returns a *log.Logger, for http.Server.ErrorLog and ReverseProxy.ErrorLog, that
// writes each line to l at level.
func ErrorLog(l zerolog.Logger, level zerolog.Level) *log.Logger {
	return log.New(zerologWriter{l: l, level: level}, "", 0)
}

type zerologWriter struct {
	l     zerolog.Logger
	level zerolog.Level
}

func (w zerologWriter) Write(p []byte) (int, error) {
	msg := string(p)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	w.l.WithLevel(w.level).Msg(msg)
	return len(p), nil
}
