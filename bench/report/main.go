// Command report summarises the raw runs of bench/run.sh: it reads the CSV the script appends
// one line per run to, and writes one Markdown table with the median of each figure over the
// rounds, its min–max range, and ratios to nginx and to the direct call.
//
//	go run ./bench/report -in bench/out/runs.csv
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	}
}

// run parses the flags, reads the runs and writes the table to stdout.
func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "bench/out/runs.csv", "the runs `file` written by bench/run.sh")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	runs, err := readRuns(f)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		return fmt.Errorf("report: %s holds no runs", *in)
	}
	return render(stdout, summarize(runs))
}
