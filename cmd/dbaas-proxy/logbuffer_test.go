package main

import (
	"bytes"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// signalWriter is a log sink that records each write and signals it.
type signalWriter struct {
	mu     sync.Mutex
	writes []string
	wrote  chan struct{}
}

func newSignalWriter() *signalWriter { return &signalWriter{wrote: make(chan struct{}, 64)} }

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	w.mu.Unlock()
	w.wrote <- struct{}{}
	return len(p), nil
}

func (w *signalWriter) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// TestLogBufferFlushesWithinThePeriod: lines logged together reach the sink in one write,
// without any further write to push them out, once the period has passed.
func TestLogBufferFlushesWithinThePeriod(t *testing.T) {
	sink := newSignalWriter()
	b := newLogBuffer(sink, 50*time.Millisecond)
	defer b.Close()
	l := zerolog.New(b)
	l.Info().Msg("one")
	l.Info().Msg("two")
	select {
	case <-sink.wrote:
	case <-time.After(10 * time.Second): // a generous bound against a hang, not a timing claim
		t.Fatal("the lines were not written within 10 s")
	}
	want := `{"level":"info","message":"one"}` + "\n" + `{"level":"info","message":"two"}` + "\n"
	if got := sink.all(); len(got) != 1 || got[0] != want {
		t.Errorf("writes %q, want one write %q", got, want)
	}
}

// TestLogBufferWrites: with a period too long to pass during the test, lines are kept until
// Close, an error line (and what came before it) is written at once, and a line logged after
// Close goes straight through.
func TestLogBufferWrites(t *testing.T) {
	tests := []struct {
		name  string
		log   func(l zerolog.Logger, b *logBuffer)
		early int // writes before Close
		want  []string
	}{
		{"kept until Close", func(l zerolog.Logger, _ *logBuffer) {
			l.Info().Msg("a")
			l.Warn().Msg("b")
		}, 0, []string{"a\nb\n"}},
		{"error lines at once", func(l zerolog.Logger, _ *logBuffer) {
			l.Info().Msg("a")
			l.Error().Msg("b")
			l.Info().Msg("c")
		}, 1, []string{"a\nb\n", "c\n"}},
		{"Flush", func(l zerolog.Logger, b *logBuffer) {
			l.Info().Msg("a")
			b.Flush()
			l.Info().Msg("b")
		}, 1, []string{"a\n", "b\n"}},
		{"a line longer than the buffer alone", func(l zerolog.Logger, _ *logBuffer) {
			l.Info().Msg("a")
			l.Info().Msg(string(bytes.Repeat([]byte("x"), logBufferSize)))
			l.Info().Msg("c")
		}, 2, []string{"a\n", string(bytes.Repeat([]byte("x"), logBufferSize)) + "\n", "c\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newSignalWriter()
			b := newLogBuffer(sink, time.Hour)
			l := zerolog.New(messageOnly{b})
			tt.log(l, b)
			if n := len(sink.all()); n != tt.early {
				t.Errorf("%d writes before Close, want %d", n, tt.early)
			}
			b.Close()
			l.Info().Msg("after")
			got := sink.all()
			want := append(append([]string(nil), tt.want...), "after\n")
			if len(got) != len(want) {
				t.Fatalf("writes %q, want %q", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("write %d: %.60q, want %.60q", i, got[i], want[i])
				}
			}
		})
	}
}

// messageOnly writes each line as its message alone, so the tests can compare writes simply;
// it passes the level on.
type messageOnly struct{ b *logBuffer }

func (m messageOnly) Write(p []byte) (int, error) { return m.WriteLevel(zerolog.NoLevel, p) }

func (m messageOnly) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	i := bytes.Index(p, []byte(`"message":"`))
	msg := p[i+len(`"message":"`) : bytes.LastIndexByte(p, '"')]
	if _, err := m.b.WriteLevel(level, append(append([]byte(nil), msg...), '\n')); err != nil {
		return 0, err
	}
	return len(p), nil
}

// TestLogBufferWriter: lines for a file (stderr, log.file) go through the buffer; an
// in-memory sink, where a write costs no system call, is written directly.
func TestLogBufferWriter(t *testing.T) {
	f, err := os.CreateTemp(testkit.TempDir(t), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name     string
		sink     io.Writer
		buffered bool
	}{
		{"*os.File", f, true},
		{"log.file", &logFile{path: f.Name(), f: f}, true},
		{"in memory", &bytes.Buffer{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newLogBuffer(tt.sink, time.Hour)
			defer b.Close()
			if got := b.writer() == io.Writer(b); got != tt.buffered {
				t.Errorf("buffered %v, want %v", got, tt.buffered)
			}
		})
	}
}
