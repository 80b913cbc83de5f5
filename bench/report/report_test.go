package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const csvHeader = "round,contender,workload,requests,duration_us,non2xx,sockerr,p50_us,p99_us,p999_us," +
	"cpu_ticks,emu_cpu_ticks,clk_tck,bytes,speed_bps,rss_kb\n"

// fixture has two rounds of get-c16 for every contender, one download each and the rest RSS.
// dbaas-proxy uses twice nginx's CPU per request; direct is the emulator.
const fixture = csvHeader +
	"1,direct,get-c16,10000,1000000,0,0,100,900,2000,50,50,100,0,0,0\n" +
	"1,nginx,get-c16,8000,1000000,1,0,200,1000,3000,40,60,100,0,0,0\n" +
	"1,dbaas-proxy,get-c16,8000,1000000,0,2,210,1100,3100,80,60,100,0,0,0\n" +
	"2,direct,get-c16,12000,1000000,0,0,120,1100,2200,72,72,100,0,0,0\n" +
	"2,nginx,get-c16,8000,1000000,0,0,220,1200,3200,40,60,100,0,0,0\n" +
	"2,dbaas-proxy,get-c16,8000,1000000,0,0,230,1300,3300,80,60,100,0,0,0\n" +
	"1,direct,stream-256m,1,0,0,0,0,0,0,100,100,100,268435456,500000000,20480\n" +
	"1,nginx,stream-256m,1,0,0,0,0,0,0,128,100,100,268435456,400000000,10240\n" +
	"1,dbaas-proxy,stream-256m,1,0,0,0,0,0,0,256,100,100,268435456,250000000,30720\n" +
	"0,dbaas-proxy,rest,0,0,0,0,0,0,0,0,0,100,0,0,15360\n"

func TestNewStat(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		in   []float64
		want Stat
	}{
		{"empty", nil, Stat{}},
		{"only NaN", []float64{nan, nan}, Stat{}},
		{"one", []float64{3}, Stat{Median: 3, Min: 3, Max: 3, N: 1}},
		{"odd", []float64{5, 1, 3}, Stat{Median: 3, Min: 1, Max: 5, N: 3}},
		{"even", []float64{4, 1, 3, 10}, Stat{Median: 3.5, Min: 1, Max: 10, N: 4}},
		{"NaN ignored", []float64{nan, 2, 8, nan, 4}, Stat{Median: 4, Min: 2, Max: 8, N: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newStat(tt.in); got != tt.want {
				t.Errorf("newStat(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadRunsErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "report: the runs file is empty"},
		{"wrong header", "round,contender\n", "report: header"},
		{"short line", csvHeader + "1,nginx,get-c1\n", "wrong number of fields"},
		{"bad number", csvHeader + "1,nginx,get-c1,x,1,0,0,0,0,0,0,0,100,0,0,0\n",
			`report: line 2: requests: "x" is not a whole number`},
		{"bad float", csvHeader + "1,nginx,get-c1,1,1,0,0,y,0,0,0,0,100,0,0,0\n",
			`report: line 2: p50_us: "y" is not a number`},
		{"no clock", csvHeader + "1,nginx,get-c1,1,1,0,0,0,0,0,0,0,0,0,0,0\n",
			"report: line 2: clk_tck must be positive, got 0"},
		{"no contender", csvHeader + "1,,get-c1,1,1,0,0,0,0,0,0,0,100,0,0,0\n",
			"report: line 2: contender and workload must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readRuns(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("readRuns error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestFigures(t *testing.T) {
	tests := []struct {
		name                  string
		run                   Run
		throughput, cpu, rssM float64 // NaN: not given
	}{
		{"get: req/s and µs per request",
			Run{Workload: "get-c1", Requests: 5000, durationS: 2, CPUTicks: 25, ClkTck: 100},
			2500, 50, math.NaN()},
		{"stream: MB/s and µs per MiB",
			Run{Workload: workloadStream, Requests: 1, Bytes: 256 << 20, SpeedBps: 3e8, CPUTicks: 64, ClkTck: 100, RSSKiB: 2048},
			300, 2500, 2},
		{"rest: RSS only",
			Run{Workload: workloadRest, ClkTck: 100, RSSKiB: 1024},
			math.NaN(), math.NaN(), 1},
		{"no requests: no CPU figure",
			Run{Workload: "get-c128", durationS: 1, CPUTicks: 10, ClkTck: 100},
			0, math.NaN(), math.NaN()},
	}
	same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := figures(tt.run)
			if !same(f.throughput, tt.throughput) || !same(f.cpu, tt.cpu) || !same(f.rss, tt.rssM) {
				t.Errorf("figures = throughput %v cpu %v rss %v, want %v %v %v",
					f.throughput, f.cpu, f.rss, tt.throughput, tt.cpu, tt.rssM)
			}
		})
	}
}

func TestRender(t *testing.T) {
	runs, err := readRuns(strings.NewReader(fixture))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := render(&out, summarize(runs)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	tests := []struct {
		name, prefix, want string
	}{
		{"direct median and range", "| GET /services, 16 conns | direct |",
			"11000 (10000–12000) | ×1.38 | ×1.00 | 0.11 (0.10–0.12) | 1.00 (0.90–1.10) | 2.10 (2.00–2.20) | 0 " +
				"| 55.0 (50.0–60.0) | ×1.10 | ×1.00 | – | – |"},
		{"nginx errors summed", "| GET /services, 16 conns | nginx |",
			"8000 | ×1.00 | ×0.73 | 0.21 (0.20–0.22) | 1.10 (1.00–1.20) | 3.10 (3.00–3.20) | 1 " +
				"| 50.0 | ×1.00 | ×0.91 | 75.0 | – |"},
		{"proxy CPU ratio", "| GET /services, 16 conns | dbaas-proxy |",
			"8000 | ×1.00 | ×0.73 | 0.22 (0.21–0.23) | 1.20 (1.10–1.30) | 3.20 (3.10–3.30) | 2 " +
				"| 100.0 | ×2.00 | ×1.82 | 75.0 | – |"},
		{"stream units", "| GET 256 MiB log (curl) | dbaas-proxy |",
			"250 MB/s | ×0.62 | ×0.50 | – | – | – | 0 | 10000.0 /MiB | ×2.00 | ×2.56 | 3906.2 /MiB | 30.0 |"},
		{"rest RSS only", "| at rest (no load) | dbaas-proxy |",
			"– | – | – | – | – | – | – | – | – | – | – | 15.0 |"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, l := range lines {
				if rest, ok := strings.CutPrefix(l, tt.prefix+" "); ok {
					if rest != tt.want {
						t.Errorf("row %q\n got: %s\nwant: %s", tt.prefix, rest, tt.want)
					}
					return
				}
			}
			t.Errorf("no row starts with %q in\n%s", tt.prefix, out.String())
		})
	}
}

func TestRun(t *testing.T) {
	dir := testkit.TempDir(t)
	good := filepath.Join(dir, "runs.csv")
	if err := os.WriteFile(good, []byte(fixture), 0o600); err != nil {
		t.Fatal(err)
	}
	headerOnly := filepath.Join(dir, "header.csv")
	if err := os.WriteFile(headerOnly, []byte(csvHeader), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, wantOut, wantErr string
	}{
		{"table", good, "| workload | contender | req/s |", ""},
		{"no runs", headerOnly, "", "holds no runs"},
		{"missing file", filepath.Join(dir, "nope.csv"), "", "report: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run([]string{"-in", tt.in}, &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("run error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out.String(), tt.wantOut) {
				t.Errorf("output starts %q, want %q", out.String()[:40], tt.wantOut)
			}
		})
	}
}
