package proxy

import (
	"io"
	"sync/atomic"
	"time"
)

// clientBody is the client's request body as the handler sees it: it counts bytes and wait
// time (left out of upstream_duration) and keeps the first read error, so a transport failure
// can be told to be the client's. It is safe for concurrent use: the transport may read it on
// a goroutine of its own.
type clientBody struct {
	io.ReadCloser
	now  func() time.Time
	n    atomic.Int64
	wait atomic.Int64          // nanoseconds spent in Read
	err  atomic.Pointer[error] // the first error other than io.EOF
}

func (b *clientBody) Read(p []byte) (int, error) {
	start := b.now()
	n, err := b.ReadCloser.Read(p)
	b.wait.Add(int64(b.now().Sub(start)))
	b.n.Add(int64(n))
	if err != nil && err != io.EOF {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// waited returns the time spent in Read so far; 0 for a nil body.
func (b *clientBody) waited() time.Duration {
	if b == nil {
		return 0
	}
	return time.Duration(b.wait.Load())
}

// readErr returns the first error reading the body gave, other than io.EOF; nil for a nil body.
func (b *clientBody) readErr() error {
	if b == nil || b.err.Load() == nil {
		return nil
	}
	return *b.err.Load()
}
