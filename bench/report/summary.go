package main

import (
	"math"
	"slices"
)

// Contender and workload names, in the order the table shows them. Names not listed here
// follow in the order of their first run.
var (
	contenderOrder = []string{"direct", "nginx", "plain", "dbaas-proxy"}
	workloadOrder  = []string{"get-c1", "get-c16", "get-c128", "get-c400", "get-c1000", "idle-4000", "post-1m-c8", "stream-256m", "rest"}
)

// Workloads with a special meaning.
const (
	workloadStream = "stream-256m" // one curl download per run: MB/s, CPU per MiB, peak RSS
	workloadRest   = "rest"        // no load: RSS at rest only
)

// Stat is a figure over the rounds: its median and its range. The zero value (N == 0) means
// "not measured".
type Stat struct {
	Median, Min, Max float64
	N                int
}

// newStat summarises xs, ignoring NaN (a figure a run could not give).
func newStat(xs []float64) Stat {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Stat{}
	}
	slices.Sort(v)
	n := len(v)
	med := v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return Stat{Median: med, Min: v[0], Max: v[n-1], N: n}
}

// Row is one contender on one workload, summarised over the rounds.
type Row struct {
	Workload, Contender string
	// Throughput is requests per second, or MB/s (10^6 bytes) for the stream.
	Throughput Stat
	// P50, P99 and P999 are latency percentiles in milliseconds.
	P50, P99, P999 Stat
	// Errors is the total over all rounds of non-2xx responses and socket errors.
	Errors int64
	// CPU is the contender's CPU time per request in microseconds (per MiB for the stream);
	// EmuCPU is the emulator's, measured over the same runs.
	CPU, EmuCPU Stat
	// RSS is in MiB: at rest, the largest sample during get-c128, or the stream's peak.
	RSS Stat
}

// perRun holds the figures of one run, NaN where the run does not give them.
type perRun struct {
	throughput, p50, p99, p999, cpu, emu, rss float64
}

// figures derives the per-run figures from a raw run.
func figures(r Run) perRun {
	nan := math.NaN()
	f := perRun{throughput: nan, p50: nan, p99: nan, p999: nan, cpu: nan, emu: nan, rss: nan}
	if r.RSSKiB > 0 {
		f.rss = float64(r.RSSKiB) / 1024
	}
	var units float64
	switch r.Workload {
	case workloadRest:
		return f
	case workloadStream:
		f.throughput = r.SpeedBps / 1e6
		units = float64(r.Bytes) / (1 << 20)
	default:
		if r.durationS > 0 {
			f.throughput = float64(r.Requests) / r.durationS
		}
		f.p50, f.p99, f.p999 = r.P50/1e3, r.P99/1e3, r.P999/1e3
		units = float64(r.Requests)
	}
	if units > 0 {
		tick := 1e6 / float64(r.ClkTck) // microseconds per clock tick
		f.cpu = float64(r.CPUTicks) * tick / units
		f.emu = float64(r.EmuTicks) * tick / units
	}
	return f
}

// summarize groups runs by workload and contender, in table order.
func summarize(runs []Run) []Row {
	type key struct{ workload, contender string }
	groups := map[key][]Run{}
	workloads, contenders := slices.Clone(workloadOrder), slices.Clone(contenderOrder)
	for _, r := range runs {
		k := key{r.Workload, r.Contender}
		groups[k] = append(groups[k], r)
		if !slices.Contains(workloads, r.Workload) {
			workloads = append(workloads, r.Workload)
		}
		if !slices.Contains(contenders, r.Contender) {
			contenders = append(contenders, r.Contender)
		}
	}
	var rows []Row
	for _, w := range workloads {
		for _, c := range contenders {
			if g, ok := groups[key{w, c}]; ok {
				rows = append(rows, summarizeGroup(w, c, g))
			}
		}
	}
	return rows
}

// summarizeGroup summarises the runs of one contender on one workload.
func summarizeGroup(workload, contender string, g []Run) Row {
	var thr, p50, p99, p999, cpu, emu, rss []float64
	row := Row{Workload: workload, Contender: contender}
	for _, r := range g {
		f := figures(r)
		thr, p50, p99, p999 = append(thr, f.throughput), append(p50, f.p50), append(p99, f.p99), append(p999, f.p999)
		cpu, emu, rss = append(cpu, f.cpu), append(emu, f.emu), append(rss, f.rss)
		row.Errors += r.Non2xx + r.SockErr
	}
	row.Throughput, row.P50, row.P99, row.P999 = newStat(thr), newStat(p50), newStat(p99), newStat(p999)
	row.CPU, row.EmuCPU, row.RSS = newStat(cpu), newStat(emu), newStat(rss)
	return row
}
