// Package memlimit chooses the Go runtime's soft memory limit for dbaas-proxy.
//
// The limit is a safety net, not a target: a soft limit close to the live heap makes the
// garbage collector run flat out (with a fixed 48 MiB limit and 400 busy connections the proxy
// fell from 14,972 to 1,612 requests per second). So it sits where the process would otherwise
// be killed, and GOGC keeps its meaning:
//
//   - GOMEMLIMIT set in the environment: the user's value, untouched (the runtime read it).
//   - on Linux in a container with a memory limit (cgroup v2 /sys/fs/cgroup/memory.max, or v1
//     /sys/fs/cgroup/memory/memory.limit_in_bytes, as a container sees its own): 80% of it,
//     leaving room for what the runtime does not count.
//   - otherwise: DefaultLimit (256 MiB), which a proxy at 1000 busy connections stays under.
//
// Only cmd calls Apply, once, at start.
package memlimit

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultLimit is the soft limit when neither GOMEMLIMIT nor a cgroup limit says otherwise.
const DefaultLimit = 256 << 20

// CgroupFraction is the share of the cgroup's memory limit taken as the soft limit.
const CgroupFraction = 0.8

// cgroupFiles are the container's own memory limit files, v2 then v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// Decision is what Apply chose and why, for one log line.
type Decision struct {
	Limit      int64  // the soft limit in force (math.MaxInt64 for GOMEMLIMIT=off)
	Source     string // "GOMEMLIMIT", "cgroup" or "default"
	Cgroup     int64  // the cgroup limit found (0: none), and CgroupFile its file
	CgroupFile string
	GOGC       string // the user's GOGC, or "" (the runtime's 100)
}

// String is the decision as one line: what the limit is, where it comes from.
func (d Decision) String() string {
	gogc := d.GOGC
	if gogc == "" {
		gogc = "100 (default)"
	}
	switch d.Source {
	case "GOMEMLIMIT":
		return fmt.Sprintf("memory limit from GOMEMLIMIT (%s), GOGC %s", mib(d.Limit), gogc)
	case "cgroup":
		return fmt.Sprintf("memory limit %s: %.0f%% of the cgroup's %s (%s), GOGC %s",
			mib(d.Limit), CgroupFraction*100, mib(d.Cgroup), d.CgroupFile, gogc)
	}
	return fmt.Sprintf("memory limit %s (default; no cgroup limit found), GOGC %s", mib(d.Limit), gogc)
}

func mib(n int64) string {
	if n == math.MaxInt64 {
		return "off"
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// Apply decides the soft limit (see the package comment) and sets it with
// debug.SetMemoryLimit, unless GOMEMLIMIT is set. getenv is os.Getenv and readFile os.ReadFile
// (tests pass fakes). The error reports a cgroup file that could not be understood; the
// default is then applied all the same.
func Apply(getenv func(string) string, readFile func(string) ([]byte, error)) (Decision, error) {
	d, err := decide(runtime.GOOS, getenv, readFile)
	if d.Source != "GOMEMLIMIT" {
		debug.SetMemoryLimit(d.Limit)
	} else {
		d.Limit = debug.SetMemoryLimit(-1) // the runtime parsed the user's value
	}
	return d, err
}

// decide is Apply without its effect, for goos.
func decide(goos string, getenv func(string) string, readFile func(string) ([]byte, error)) (Decision, error) {
	d := Decision{GOGC: getenv("GOGC"), Limit: DefaultLimit, Source: "default"}
	if getenv("GOMEMLIMIT") != "" {
		d.Source, d.Limit = "GOMEMLIMIT", 0 // Apply reads the runtime's value
		return d, nil
	}
	if goos != "linux" {
		return d, nil
	}
	for _, name := range cgroupFiles {
		data, err := readFile(name)
		if err != nil {
			continue // not mounted here
		}
		s := strings.TrimSpace(string(data))
		n, err := strconv.ParseInt(s, 10, 64)
		switch {
		case s == "max" || err == nil && n >= 1<<62: // no limit (v1 says so with a huge number)
		case err != nil || n <= 0:
			return d, fmt.Errorf("memlimit: %s: %q is not a memory limit (bytes or \"max\")", name, s)
		default:
			d.Cgroup, d.CgroupFile = n, name
			d.Limit, d.Source = int64(float64(n)*CgroupFraction), "cgroup"
			return d, nil
		}
	}
	return d, nil
}
