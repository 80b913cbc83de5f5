// Package memlimit chooses the Go runtime's soft memory limit for dbaas-proxy.
//
// The limit is a safety net, not a target. A soft limit close to the live heap makes the
// garbage collector run flat out: with a fixed 48 MiB limit and 400 busy connections the proxy
// fell from 14,972 to 1,612 requests per second. So the limit sits where the process would
// otherwise be killed, and GOGC keeps its default of 100, which paces the collector by the
// live heap as usual:
//
//   - GOMEMLIMIT set in the environment: the user's value, untouched (the runtime read it).
//   - on Linux, a cgroup memory limit (v2 memory.max or v1 memory.limit_in_bytes of the
//     process's own cgroup or an ancestor's, the smallest): 80% of it, leaving room for what
//     the runtime does not count (goroutine stacks in flight, fragmentation, the kernel's
//     socket buffers charged to the cgroup).
//   - otherwise: DefaultLimit (256 MiB), which a proxy at 1000 busy connections stays under.
//
// GOGC is never set here; a user's GOGC (even "off") keeps its meaning. Only cmd calls Apply,
// once, at start.
package memlimit

import (
	"errors"
	"fmt"
	"math"
	"path"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultLimit is the soft limit when neither GOMEMLIMIT nor a cgroup limit says otherwise.
const DefaultLimit = 256 << 20

// CgroupFraction is the share of the cgroup's memory limit taken as the soft limit.
const CgroupFraction = 0.8

// unlimitedV1 is above any real limit: cgroup v1 reports "no limit" as a page-rounded
// math.MaxInt64.
const unlimitedV1 = 1 << 62

// Decision is what Apply chose and why, for one log line.
type Decision struct {
	// Limit is the soft limit in bytes now in force; with Source "GOMEMLIMIT" it is the
	// user's (math.MaxInt64 for "off").
	Limit int64
	// Source says where Limit comes from: "GOMEMLIMIT", "cgroup", or "default".
	Source string
	// Cgroup is the cgroup limit in bytes that was found (0: none), and CgroupFile its file.
	Cgroup     int64
	CgroupFile string
	// GOGC is the user's GOGC, or "" when unset (the runtime's 100).
	GOGC string
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
// decision is then the default and is applied all the same.
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
		d.Source, d.Limit = "GOMEMLIMIT", 0 // Apply reads the runtime's
		return d, nil
	}
	if goos != "linux" {
		return d, nil
	}
	limit, file, err := cgroupLimit(readFile)
	if limit > 0 {
		d.Cgroup, d.CgroupFile = limit, file
		d.Limit, d.Source = int64(float64(limit)*CgroupFraction), "cgroup"
	}
	return d, err
}

// cgroupLimit returns the smallest memory limit of the process's cgroup and its ancestors,
// v2 first then v1, with the file it came from; 0 when there is none. Missing files are not
// errors (no cgroup mounted there); garbage in one is.
func cgroupLimit(readFile func(string) ([]byte, error)) (int64, string, error) {
	data, err := readFile("/proc/self/cgroup")
	if err != nil {
		return 0, "", nil
	}
	var errs []error
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// hierarchy-ID:controllers:path; v2 is "0::/path".
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var mount, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			mount, file = "/sys/fs/cgroup", "memory.max"
		case hasController(parts[1], "memory"):
			mount, file = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		limit, from, err := smallest(readFile, mount, parts[2], file)
		if err != nil {
			errs = append(errs, err)
		}
		if limit > 0 {
			return limit, from, errors.Join(errs...)
		}
	}
	return 0, "", errors.Join(errs...)
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// smallest reads file in dir and each of its ancestors up to mount and returns the smallest
// limit. Inside a container with its own cgroup namespace dir is "/": only the mount's file.
func smallest(readFile func(string) ([]byte, error), mount, dir, file string) (int64, string, error) {
	var best int64
	var from string
	var errs []error
	for dir = path.Clean("/" + dir); ; dir = path.Dir(dir) {
		name := path.Join(mount, dir, file)
		if data, err := readFile(name); err == nil {
			n, err := parseLimit(string(data))
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("memlimit: %s: %w", name, err))
			case n > 0 && (best == 0 || n < best):
				best, from = n, name
			}
		}
		if dir == "/" {
			return best, from, errors.Join(errs...)
		}
	}
}

// parseLimit parses a cgroup memory limit: bytes, or "max" (v2) or a huge v1 value for
// none (0).
func parseLimit(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a memory limit (bytes or \"max\")", s)
	}
	if n >= unlimitedV1 {
		return 0, nil
	}
	return n, nil
}
