package proxy

import (
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
)

// logAccess writes the request's access line: the query only at debug level (it may hold ids),
// the client's values as netrule.LogValue so a client cannot forge lines or lengthen them.
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
		Str("path", netrule.LogValue(rec.Path)).
		Str("route", rec.Route).
		Str("template", rec.Template).
		Str("user_agent", netrule.LogValue(r.Header.Get("User-Agent"))).
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
		ev.Str("query", netrule.LogValue(r.URL.RawQuery))
	}
	ev.Msg("request")
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// ErrorLog returns a *log.Logger writing each line to l at level (for http.Server and
// ReverseProxy); accept errors (net/http retries them, e.g. out of fds) at warn at least.
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
	level := w.level
	if strings.HasPrefix(msg, "http: Accept error") && level < zerolog.WarnLevel {
		level = zerolog.WarnLevel
	}
	w.l.WithLevel(level).Msg(msg)
	return len(p), nil
}
