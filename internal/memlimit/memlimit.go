// Package memlimit chooses the Go runtime's soft memory limit for dbaas-proxy. It is a safety
// net, not a target: a limit close to the live heap makes the GC run flat out (a fixed 48 MiB
// limit at 400 busy connections fell from 14,972 to 1,612 requests per second), so it sits
// where the process would otherwise be killed: GOMEMLIMIT if set, untouched; else 80% of the
// container's cgroup v2 or v1 memory limit; else DefaultLimit, which a proxy at 1000 busy
// connections stays under. GOGC keeps its meaning. Only cmd calls Apply, once, at start.
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

var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// Decision is what Apply chose and why, as one line for the log.
type Decision string

// String is the decision.
func (d Decision) String() string { return string(d) }

// Apply sets the soft limit the package comment describes, unless GOMEMLIMIT is set. The error
// reports a cgroup file it could not understand; the default is applied all the same.
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

// decide is Apply without its effect: the limit (-1: GOMEMLIMIT's) and why.
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
