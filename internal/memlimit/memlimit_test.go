package memlimit

import (
	"io/fs"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

// fakeFS is a file system of fixed files; others do not exist.
type fakeFS map[string]string

func (f fakeFS) read(name string) ([]byte, error) {
	if s, ok := f[name]; ok {
		return []byte(s), nil
	}
	return nil, fs.ErrNotExist
}

func env(kv ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1]
			}
		}
		return ""
	}
}

func TestDecide(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name    string
		env     func(string) string
		files   fakeFS
		limit   int64
		source  string
		file    string
		wantErr string
	}{
		{"GOMEMLIMIT wins", env("GOMEMLIMIT", "1GiB"),
			fakeFS{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "536870912\n"}, -1, "GOMEMLIMIT", "", ""},
		{"v2 in a container", env(),
			fakeFS{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "536870912\n"}, 429496729, ": 80% of the cgroup's 512 MiB", "/sys/fs/cgroup/memory.max", ""},
		{"v2 max", env(),
			fakeFS{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n"}, DefaultLimit, "default", "", ""},
		{"v2 large: 80% of it, above the default", env(),
			fakeFS{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "4294967296"}, 4 * gib * 8 / 10, "cgroup", "/sys/fs/cgroup/memory.max", ""},
		{"v1", env(),
			fakeFS{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "268435456\n"}, 214748364, "cgroup", "/sys/fs/cgroup/memory/memory.limit_in_bytes", ""},
		{"v1 unlimited", env(),
			fakeFS{"/proc/self/cgroup": "11:memory:/\n", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, DefaultLimit, "default", "", ""},
		{"no cgroup files", env(), fakeFS{}, DefaultLimit, "default", "", ""},
		{"cgroup listed, file missing", env(), fakeFS{"/proc/self/cgroup": "0::/x\n"}, DefaultLimit, "default", "", ""},
		{"garbage", env(),
			fakeFS{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "lots\n"}, DefaultLimit, "default", "", `/sys/fs/cgroup/memory.max: "lots" is not a memory limit`},
		{"garbage /proc/self/cgroup", env(), fakeFS{"/proc/self/cgroup": "nonsense"}, DefaultLimit, "default", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit, why, err := decide(tt.env, tt.files.read)
			if limit != tt.limit || !strings.Contains(why, tt.source) || !strings.Contains(why, tt.file) {
				t.Errorf("decide = %d %q, want limit %d from %s (%s)", limit, why, tt.limit, tt.source, tt.file)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestApply(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	t.Run("sets the limit", func(t *testing.T) {
		debug.SetMemoryLimit(math.MaxInt64)
		d, err := Apply(env(), fakeFS{}.read)
		if err != nil || !strings.Contains(d.String(), "memory limit 256 MiB (default") {
			t.Fatalf("Apply = %q, %v", d, err)
		}
		if got := debug.SetMemoryLimit(-1); got != DefaultLimit {
			t.Fatalf("runtime limit = %d, want %d", got, DefaultLimit)
		}
	})
	t.Run("GOMEMLIMIT untouched", func(t *testing.T) {
		debug.SetMemoryLimit(123 << 20) // as if the runtime had read GOMEMLIMIT=123MiB
		d, err := Apply(env("GOMEMLIMIT", "123MiB", "GOGC", "50"), fakeFS{}.read)
		if err != nil {
			t.Fatalf("Apply = %q, %v", d, err)
		}
		if got := debug.SetMemoryLimit(-1); got != 123<<20 {
			t.Fatalf("runtime limit = %d, want the user's", got)
		}
		if s := d.String(); !strings.Contains(s, "memory limit 123 MiB from GOMEMLIMIT") || !strings.Contains(s, "GOGC 50") {
			t.Errorf("String = %q", s)
		}
	})
}
