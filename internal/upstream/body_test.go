package upstream

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

type closeCounter struct {
	io.Reader
	closes int
}

func (c *closeCounter) Close() error { c.closes++; return nil }

// TestHeldBody: a second attempt reads the whole body, the bytes the first read included; the
// first attempt's reader then fails; Close waits for release; a body read past keepMax cannot
// be replayed.
func TestHeldBody(t *testing.T) {
	t.Run("replay", func(t *testing.T) {
		src := &closeCounter{Reader: strings.NewReader("hello, upstream")}
		req, _ := http.NewRequest(http.MethodPost, "https://x", src)
		b := holdBody(req)
		first := b.attempt(&attempt{})
		p := make([]byte, 5)
		if n, _ := first.Read(p); string(p[:n]) != "hello" {
			t.Fatalf("first read %q", p[:n])
		}
		_ = first.Close()
		if src.closes != 0 || !b.replayable() {
			t.Fatalf("closes %d, replayable %v after an attempt that wrote nothing", src.closes, b.replayable())
		}
		second := b.attempt(&attempt{})
		all, err := io.ReadAll(second)
		if err != nil || string(all) != "hello, upstream" {
			t.Fatalf("second attempt read %q, %v", all, err)
		}
		if _, err := first.Read(p); !errors.Is(err, errStaleAttempt) {
			t.Fatalf("the given-up attempt read: %v", err)
		}
		_ = second.Close()
		b.release()
		if src.closes != 1 {
			t.Fatalf("closes = %d, want 1", src.closes)
		}
	})
	t.Run("too much read", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, "https://x", io.NopCloser(strings.NewReader(strings.Repeat("x", keepMax+1))))
		b := holdBody(req)
		if _, err := io.ReadAll(b.attempt(&attempt{})); err != nil {
			t.Fatal(err)
		}
		if b.replayable() {
			t.Fatal("a body read past keepMax is replayable")
		}
	})
	t.Run("no body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "https://x", nil)
		if b := holdBody(req); b != nil || !b.replayable() {
			t.Fatal("a request without a body is held")
		}
	})
}
