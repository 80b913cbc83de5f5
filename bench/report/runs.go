package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// columns are the CSV columns bench/run.sh writes, in order. The first line of the file is
// this header.
var columns = []string{
	"round", "contender", "workload", "requests", "duration_us", "non2xx", "sockerr",
	"p50_us", "p99_us", "p999_us", "cpu_ticks", "emu_cpu_ticks", "clk_tck", "bytes",
	"speed_bps", "rss_kb",
}

// Run is one measured run: one contender, one workload, one round. Fields the workload does
// not measure are zero.
type Run struct {
	Round     int
	Contender string // direct, nginx or dbaas-proxy
	Workload  string // get-c1, get-c16, get-c128, post-1m-c8, stream-256m or rest
	Requests  int64  // completed requests (1 for a download)
	Duration  float64
	Non2xx    int64   // responses with a status above 399 (for a download: not 200)
	SockErr   int64   // connect, read, write and timeout errors
	P50       float64 // latency percentiles, microseconds
	P99       float64
	P999      float64
	CPUTicks  int64 // the contender's utime+stime during the run, clock ticks
	EmuTicks  int64 // the emulator's utime+stime during the run, clock ticks
	ClkTck    int64 // clock ticks per second (getconf CLK_TCK)
	Bytes     int64 // bytes downloaded (stream)
	SpeedBps  float64
	RSSKiB    int64 // rest: VmRSS at rest; get-c128: largest VmRSS sampled; stream: VmHWM
	durationS float64
}

// readRuns parses the CSV written by bench/run.sh. Errors name the line.
func readRuns(r io.Reader) ([]Run, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(columns)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("report: the runs file is empty")
	}
	if err != nil {
		return nil, fmt.Errorf("report: header: %w", err)
	}
	if got := strings.Join(header, ","); got != strings.Join(columns, ",") {
		return nil, fmt.Errorf("report: header is %q, want %q", got, strings.Join(columns, ","))
	}
	var runs []Run
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return runs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		line, _ := cr.FieldPos(0)
		run, err := parseRun(rec)
		if err != nil {
			return nil, fmt.Errorf("report: line %d: %w", line, err)
		}
		runs = append(runs, run)
	}
}

// parseRun converts one CSV record.
func parseRun(rec []string) (Run, error) {
	p := fieldParser{rec: rec}
	run := Run{
		Round:     int(p.int(0)),
		Contender: rec[1],
		Workload:  rec[2],
		Requests:  p.int(3),
		Duration:  p.float(4),
		Non2xx:    p.int(5),
		SockErr:   p.int(6),
		P50:       p.float(7),
		P99:       p.float(8),
		P999:      p.float(9),
		CPUTicks:  p.int(10),
		EmuTicks:  p.int(11),
		ClkTck:    p.int(12),
		Bytes:     p.int(13),
		SpeedBps:  p.float(14),
		RSSKiB:    p.int(15),
	}
	if p.err != nil {
		return Run{}, p.err
	}
	if run.Contender == "" || run.Workload == "" {
		return Run{}, errors.New("contender and workload must not be empty")
	}
	if run.ClkTck <= 0 {
		return Run{}, fmt.Errorf("clk_tck must be positive, got %d", run.ClkTck)
	}
	run.durationS = run.Duration / 1e6
	return run, nil
}

// fieldParser parses numeric fields, keeping the first error.
type fieldParser struct {
	rec []string
	err error
}

func (p *fieldParser) int(i int) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(p.rec[i]), 10, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%s: %q is not a whole number", columns[i], p.rec[i])
	}
	return v
}

func (p *fieldParser) float(i int) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(p.rec[i]), 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%s: %q is not a number", columns[i], p.rec[i])
	}
	return v
}
