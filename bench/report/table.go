package main

import (
	"fmt"
	"io"
	"strings"
)

// workloadLabels are the table's names of the workloads.
var workloadLabels = map[string]string{
	"get-c1":       "GET /services, 1 conn",
	"get-c16":      "GET /services, 16 conns",
	"get-c128":     "GET /services, 128 conns",
	"get-c400":     "GET /services, 400 conns",
	"get-c1000":    "GET /services, 1000 conns",
	"idle-4000":    "4000 idle conns held + GET at 16",
	"post-1m-c8":   "POST 1 MiB to _echo, 8 conns",
	workloadStream: "GET 256 MiB log (curl)",
	workloadRest:   "at rest (no load)",
}

const dash = "–"

// header is the table's header and alignment rows.
const header = "| workload | contender | req/s | ×nginx | ×direct | p50 ms | p99 ms | p99.9 ms | errors " +
	"| CPU µs/req | ×nginx | ×direct | emulator µs/req | RSS MiB |\n" +
	"|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"

// legend explains the table; it follows it in the output.
const legend = `
Each cell is the median over the rounds, with the min–max range in brackets; "errors" is the
total over all rounds (non-2xx responses plus socket errors). "×nginx" and "×direct" divide this
row's median by nginx's or direct's on the same workload (req/s: higher is better; CPU: lower is
better). "CPU µs/req" is the contender process's own CPU time (utime+stime, all nginx processes
summed) per request: for "direct" it is the emulator's, for nginx and dbaas-proxy it EXCLUDES the
emulator, whose CPU over the same runs is the "emulator µs/req" column. For the 256 MiB download
the throughput is MB/s (10^6 bytes) and the CPU is per MiB. RSS: at rest, after start and before
any load; on the 128-connection GET, the largest VmRSS sampled during the run; on the download,
the peak (VmHWM, reset before each download). nginx's RSS is the sum over its master and workers.
`

// render writes rows as one Markdown table followed by its legend.
func render(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString(header)
	for _, r := range rows {
		nginx, direct := find(rows, r.Workload, "nginx"), find(rows, r.Workload, "direct")
		cells := []string{label(r.Workload), r.Contender}
		cells = append(cells, throughputCells(r, nginx, direct)...)
		cells = append(cells, latencyCells(r)...)
		cells = append(cells, cpuCells(r, nginx, direct)...)
		cells = append(cells, fmtStat(r.RSS, "%.1f", ""))
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString(legend)
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("report: write table: %w", err)
	}
	return nil
}

// throughputCells are the req/s (or MB/s) cell and its two ratios.
func throughputCells(r Row, nginx, direct *Row) []string {
	if r.Workload == workloadRest {
		return []string{dash, dash, dash}
	}
	unit := ""
	if r.Workload == workloadStream {
		unit = " MB/s"
	}
	return []string{fmtStat(r.Throughput, "%.0f", unit),
		ratio(r.Throughput, nginx, func(x *Row) Stat { return x.Throughput }),
		ratio(r.Throughput, direct, func(x *Row) Stat { return x.Throughput })}
}

// latencyCells are the three percentile cells and the error count.
func latencyCells(r Row) []string {
	errs := fmt.Sprint(r.Errors)
	if r.Workload == workloadRest {
		errs = dash
	}
	return []string{fmtStat(r.P50, "%.2f", ""), fmtStat(r.P99, "%.2f", ""), fmtStat(r.P999, "%.2f", ""), errs}
}

// cpuCells are the CPU-per-request cell, its two ratios and the emulator's CPU.
func cpuCells(r Row, nginx, direct *Row) []string {
	unit := ""
	if r.Workload == workloadStream {
		unit = " /MiB"
	}
	emu := fmtStat(r.EmuCPU, "%.1f", unit)
	if r.Contender == "direct" {
		emu = dash // the contender is the emulator
	}
	return []string{fmtStat(r.CPU, "%.1f", unit),
		ratio(r.CPU, nginx, func(x *Row) Stat { return x.CPU }),
		ratio(r.CPU, direct, func(x *Row) Stat { return x.CPU }), emu}
}

// find returns the row of contender on workload, or nil.
func find(rows []Row, workload, contender string) *Row {
	for i := range rows {
		if rows[i].Workload == workload && rows[i].Contender == contender {
			return &rows[i]
		}
	}
	return nil
}

// ratio is s's median over the reference row's, as "×1.23", or a dash when there is nothing
// to divide by.
func ratio(s Stat, ref *Row, pick func(*Row) Stat) string {
	if ref == nil || s.N == 0 {
		return dash
	}
	d := pick(ref)
	if d.N == 0 || d.Median == 0 {
		return dash
	}
	return fmt.Sprintf("×%.2f", s.Median/d.Median)
}

// fmtStat formats a Stat as "median (min–max)" with verb, the range left out when it is one
// value, and a dash when it was not measured.
func fmtStat(s Stat, verb, unit string) string {
	if s.N == 0 {
		return dash
	}
	m := fmt.Sprintf(verb, s.Median)
	lo, hi := fmt.Sprintf(verb, s.Min), fmt.Sprintf(verb, s.Max)
	if s.N == 1 || lo == hi {
		return m + unit
	}
	return m + unit + " (" + lo + "–" + hi + ")"
}

// label is the table's name of workload.
func label(workload string) string {
	if l, ok := workloadLabels[workload]; ok {
		return l
	}
	return workload
}
