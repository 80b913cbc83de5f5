package proxy

import (
	"bufio"
	"net"
	"net/http"
	"time"
)

// countingWriter records the status and body bytes of the response and gives each write and
// flush Options.WriteIdleTimeout: a client that reads nothing for that long gets its response
// cut (which frees the upstream connection); a slow but steady reader gets any amount. It
// passes Flush and Hijack through, so streamed responses flush as they arrive.
type countingWriter struct {
	http.ResponseWriter
	rec    *Record
	status int
	rc     *http.ResponseController
	idle   time.Duration
}

// extend sets the connection's write deadline to idle from now (where the server supports it).
func (w *countingWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.idle)) }

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
	w.extend()
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
	w.extend()
	_ = w.rc.Flush()
}

// Hijack lets the caller take over the connection (101 Switching Protocols upgrades).
func (w *countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols // the only reason the proxy hijacks
	}
	c, brw, err := w.rc.Hijack()
	if err == nil {
		_ = c.SetWriteDeadline(time.Time{}) // the tunnel is no response: no write idle limit
	}
	return c, brw, err
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
