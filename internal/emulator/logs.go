package emulator

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	defaultLogSize = 1 << 20 // size of a log download without ?size=
	maxLogSize     = 1 << 40 // largest ?size= accepted
	blockSize      = 64 << 10
)

// LogContent returns the bytes of log file name when it is size bytes long: the same for the
// same name, cheap to make at any length and never periodic at a small stride. It is a 64 KiB
// pseudo-random block seeded by name, repeated with a per-block rotation. The reader
// implements io.WriterTo, so io.Copy from it costs a memory copy per byte.
func LogContent(name string, size int64) io.Reader {
	if size < 0 {
		size = 0
	}
	seed := sha256.Sum256([]byte("dbaas-emulator log " + name))
	block := make([]byte, blockSize)
	_, _ = rand.NewChaCha8(seed).Read(block) // ChaCha8.Read never fails
	return &logReader{block: block, size: size, salt: uint64(seed[0]) | uint64(seed[1])<<8}
}

// logReader produces LogContent: byte p is block[(p%blockSize + rot(p/blockSize)) % blockSize].
type logReader struct {
	block []byte
	size  int64
	pos   int64
	salt  uint64
}

// rot is the rotation of block i.
func (l *logReader) rot(i int64) int {
	x := uint64(i)*0x9e3779b97f4a7c15 + l.salt
	x ^= x >> 29
	return int(x % blockSize)
}

// chunk returns the longest run of bytes starting at pos that is one slice of block.
func (l *logReader) chunk() []byte {
	j := int((l.pos%blockSize + int64(l.rot(l.pos/blockSize))) % blockSize)
	end := blockSize - int(l.pos%blockSize) // bytes left in this block
	if n := blockSize - j; n < end {
		end = n
	}
	if left := l.size - l.pos; int64(end) > left {
		end = int(left)
	}
	return l.block[j : j+end]
}

// Read copies the next bytes into p.
func (l *logReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && l.pos < l.size {
		c := copy(p[n:], l.chunk())
		n += c
		l.pos += int64(c)
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// WriteTo writes the rest of the content to w.
func (l *logReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for l.pos < l.size {
		n, err := w.Write(l.chunk())
		total += int64(n)
		l.pos += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

type logFile struct {
	Filename     string `json:"filename"`
	Size         int64  `json:"size"`
	LastModified string `json:"last_modified"`
}

// listLogs lists a node's logs. Log routes accept any node id, so tests need not look one up.
func listLogs(e *exchange, t *tenant, p params) {
	names := []string{"postgresql.log", "postgresql-2024-03-01.log", "postgresql-2024-02-29.log"}
	if c := t.clusterOfNode(p[0]); c != nil && c.dbType == "mongodb" {
		names = []string{"mongod.log", "mongod.log.2024-03-01T00-00-00", "mongod.log.2024-02-29T00-00-00"}
	}
	files := make([]logFile, len(names))
	for i, n := range names {
		files[i] = logFile{Filename: n, Size: defaultLogSize,
			LastModified: stamp(baseTime().Add(-time.Duration(i) * 24 * time.Hour))}
	}
	e.writeJSON(http.StatusOK, mustJSON(struct {
		Logs []logFile `json:"logs"`
	}{files}))
}

// downloadLog streams LogContent(name, size) with its Content-Length.
func downloadLog(e *exchange, _ *tenant, p params) {
	name, err := url.PathUnescape(p[1])
	if err != nil {
		e.fail(http.StatusBadRequest, "the log name is not a valid path segment")
		return
	}
	size, ok := e.logSize()
	if !ok {
		e.fail(http.StatusBadRequest, "size must be a whole number of bytes from 0 to 2^40")
		return
	}
	h := e.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if strings.Contains(e.r.Header.Get("Accept"), "application/x-download") {
		h.Set("Content-Type", "application/x-download")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	e.writeHeader(http.StatusOK)
	if _, err := io.Copy(e.w, LogContent(name, size)); err != nil {
		e.s.log.Debug().Err(err).Str("path", e.path).Msg("emulator: log download cut short")
	}
}

// logSize reads ?size=, 1 MiB when absent.
func (e *exchange) logSize() (int64, bool) {
	v := e.r.URL.Query().Get("size")
	if v == "" {
		return defaultLogSize, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0 && n <= maxLogSize
}

// logDownloadName returns the log name when the path is /api/{v}/{user}/nodes/{node}/logs/{name}.
func (e *exchange) logDownloadName() (string, bool) {
	if e.nseg != 7 || e.segs[0] != "api" || e.segs[3] != "nodes" || e.segs[5] != "logs" || e.segs[6] == "" {
		return "", false
	}
	name, err := url.PathUnescape(e.segs[6])
	return name, err == nil
}
