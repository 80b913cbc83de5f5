package emulator

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"testing"
)

func TestLogContent(t *testing.T) {
	cases := []struct {
		name string
		size int64
	}{
		{"empty", 0},
		{"one byte", 1},
		{"block minus one", blockSize - 1},
		{"block", blockSize},
		{"block plus one", blockSize + 1},
		{"several blocks", 5*blockSize + 123},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			viaWriteTo := new(bytes.Buffer)
			if n, err := io.Copy(viaWriteTo, LogContent("a.log", tc.size)); err != nil || n != tc.size {
				t.Fatalf("io.Copy: %d bytes, %v; want %d", n, err, tc.size)
			}
			viaRead, err := io.ReadAll(struct{ io.Reader }{LogContent("a.log", tc.size)}) // hides WriterTo
			if err != nil || !bytes.Equal(viaRead, viaWriteTo.Bytes()) {
				t.Fatalf("Read and WriteTo differ (%v)", err)
			}
			small, _ := io.ReadAll(oneByteReader{LogContent("a.log", tc.size)})
			if !bytes.Equal(small, viaRead) {
				t.Fatal("one-byte reads differ")
			}
			longer, _ := io.ReadAll(LogContent("a.log", tc.size+10))
			if !bytes.HasPrefix(longer, viaRead) {
				t.Error("a shorter log is not a prefix of a longer one")
			}
		})
	}
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestLogContentDiffers(t *testing.T) {
	a, _ := io.ReadAll(LogContent("a.log", 4*blockSize))
	b, _ := io.ReadAll(LogContent("b.log", 4*blockSize))
	if bytes.Equal(a[:64], b[:64]) {
		t.Error("two names give the same content")
	}
	for i := 1; i < 4; i++ {
		if bytes.Equal(a[:blockSize], a[i*blockSize:(i+1)*blockSize]) {
			t.Errorf("block %d repeats block 0", i)
		}
	}
	if bytes.Equal(a[:blockSize/2], a[blockSize/2:blockSize]) {
		t.Error("content repeats within a block")
	}
}

func TestLogDownload(t *testing.T) {
	f := newFixture(t, Options{})
	cases := []struct {
		name, query, accept string
		size                int64
		disposition         bool
	}{
		{"default size", "", "application/json", defaultLogSize, false},
		{"empty", "?size=0", "application/json", 0, false},
		{"odd size", "?size=70001", "application/json", 70001, false},
		{"large", "?size=" + strconv.Itoa(48<<20), "application/json", 48 << 20, false},
		{"download", "?size=1000", "application/x-download", 1000, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.base+"/nodes/"+f.node+"/logs/postgresql.log"+tc.query, nil)
			req.Header.Set("x-auth-token", f.tok)
			req.Header.Set("Accept", tc.accept)
			resp, err := f.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.ContentLength != tc.size {
				t.Fatalf("status %d Content-Length %d, want 200 and %d", resp.StatusCode, resp.ContentLength, tc.size)
			}
			got, want := sha256.New(), sha256.New()
			n, err := io.Copy(got, resp.Body)
			if err != nil || n != tc.size {
				t.Fatalf("read %d bytes (%v), want %d", n, err, tc.size)
			}
			_, _ = io.Copy(want, LogContent("postgresql.log", tc.size))
			if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Error("downloaded bytes differ from LogContent")
			}
			cd := resp.Header.Get("Content-Disposition")
			if tc.disposition != (cd == `attachment; filename=postgresql.log`) {
				t.Errorf("Content-Disposition %q", cd)
			}
		})
	}
}

func TestLogDownloadErrors(t *testing.T) {
	f := newFixture(t, Options{})
	for _, q := range []string{"?size=-1", "?size=abc", "?size=99999999999999999"} {
		t.Run(q, func(t *testing.T) {
			wantError(t, do(t, f.c, "GET", f.base+"/nodes/"+f.node+"/logs/x.log"+q, "", xAuth(f.tok)), 400)
		})
	}
}

func TestLogList(t *testing.T) {
	f := newFixture(t, Options{})
	logs := decode(t, f.get(t, "/nodes/"+f.node+"/logs").body)["logs"].([]any)
	if len(logs) == 0 {
		t.Fatal("no logs listed")
	}
	for _, l := range logs {
		m := l.(map[string]any)
		if m["filename"] == "" || m["size"] != float64(defaultLogSize) || m["last_modified"] == "" {
			t.Errorf("log entry %v", m)
		}
	}
}

// copySink copies what it is given, as a socket buffer would.
type copySink struct{ buf []byte }

func (c *copySink) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		p = p[copy(c.buf, p):]
	}
	return n, nil
}

func BenchmarkLogContent(b *testing.B) {
	sink := &copySink{buf: make([]byte, 32<<10)}
	b.SetBytes(64 << 20)
	for b.Loop() {
		_, _ = io.Copy(sink, LogContent("bench.log", 64<<20))
	}
}
