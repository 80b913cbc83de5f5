package proxy

import (
	"bufio"
	"net"
	"net/http"
)

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
