package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// sample is one request: when it ended (since the start) and how long it took.
type sample struct {
	end, lat time.Duration
	err      bool
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	u := fs.String("url", "", "the call")
	conns := fs.Int("c", 16, "connections (workers)")
	dur := fs.Duration("d", 30*time.Second, "duration")
	metrics := fs.String("metrics", "", "Prometheus text URL to poll")
	metric := fs.String("metric", `dbaas_proxy_token_exchanges_total{result="ok"}`, "the counter polled")
	slow := fs.Duration("slow", 0, "also count requests slower than this")
	name := fs.String("name", "", "label of the output line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, DisableCompression: true}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	start := time.Now()
	stopAt := start.Add(*dur)
	var moves []time.Duration // when the counter was seen to move
	var pollWG sync.WaitGroup
	var stop atomic.Bool
	if *metrics != "" {
		pollWG.Go(func() {
			pc := &http.Client{Timeout: time.Second}
			last := -1.0
			for !stop.Load() {
				if v, ok := readMetric(pc, *metrics, *metric); ok {
					if last >= 0 && v != last {
						moves = append(moves, time.Since(start))
					}
					last = v
				}
				time.Sleep(25 * time.Millisecond)
			}
		})
	}
	per := make([][]sample, *conns)
	var wg sync.WaitGroup
	for i := range *conns {
		wg.Go(func() {
			for time.Now().Before(stopAt) {
				t := time.Now()
				_, err := get(c, *u, nil)
				per[i] = append(per[i], sample{end: time.Since(start), lat: time.Since(t), err: err != nil})
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	pollWG.Wait()
	var all, near, rest []time.Duration
	errs, slowN := 0, 0
	for _, ss := range per {
		for _, s := range ss {
			if s.err {
				errs++
				continue
			}
			all = append(all, s.lat)
			if *slow > 0 && s.lat > *slow {
				slowN++
			}
			if nearMove(moves, s.end) {
				near = append(near, s.lat)
			} else {
				rest = append(rest, s.lat)
			}
		}
	}
	for _, l := range [][]time.Duration{all, near, rest} {
		slices.Sort(l)
	}
	el := time.Since(start)
	fmt.Printf("LOAD name=%s n=%d rps=%.0f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f slow=%d errors=%d refreshes=%d"+
		" near_n=%d near_p99_ms=%.1f near_max_ms=%.1f rest_p99_ms=%.1f rest_max_ms=%.1f\n",
		*name, len(all), float64(len(all))/el.Seconds(), ms(pct(all, 50)), ms(pct(all, 99)), ms(pct(all, 100)),
		slowN, errs, len(moves), len(near), ms(pct(near, 99)), ms(pct(near, 100)), ms(pct(rest, 99)), ms(pct(rest, 100)))
	return nil
}

// nearMove reports whether a request that ended at end ended within 1 s after (or 50 ms
// before, the polling slack) a move of the counter.
func nearMove(moves []time.Duration, end time.Duration) bool {
	for _, m := range moves {
		if end >= m-50*time.Millisecond && end <= m+time.Second {
			return true
		}
	}
	return false
}

// readMetric reads one sample's value from a Prometheus text page.
func readMetric(c *http.Client, u, name string) (float64, bool) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// hold opens n keep-alive connections and keeps them until SIGTERM, then checks them.
func hold(args []string) error {
	fs := flag.NewFlagSet("hold", flag.ContinueOnError)
	rawURL := fs.String("url", "", "the call (http or https)")
	n := fs.Int("n", 4000, "connections")
	caFile := fs.String("ca", "", "CA file for https")
	token := fs.String("token", "", "x-auth-token to send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*rawURL)
	if err != nil {
		return err
	}
	tc, err := tlsConfig(*caFile)
	if err != nil {
		return err
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n"
	if *token != "" {
		req += "x-auth-token: " + *token + "\r\n"
	}
	req += "\r\n"
	// The signal handler first: a SIGTERM that comes early must not kill the process unreported.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	type hc struct {
		c net.Conn
		r *bufio.Reader
	}
	cs := make([]*hc, *n)
	roundTrip := func(h *hc) error {
		_ = h.c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(h.c, req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(h.r, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	var opened, failedOpen atomic.Int64
	work := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
				if err == nil && u.Scheme == "https" {
					tcfg := tc.Clone()
					tcfg.ServerName = u.Hostname()
					c = tlsClient(c, tcfg)
				}
				if err != nil {
					failedOpen.Add(1)
					continue
				}
				h := &hc{c: c, r: bufio.NewReaderSize(c, 4096)}
				if err := roundTrip(h); err != nil {
					c.Close()
					failedOpen.Add(1)
					continue
				}
				cs[i] = h
				opened.Add(1)
			}
		})
	}
	for i := range *n {
		work <- i
	}
	close(work)
	wg.Wait()
	fmt.Printf("HOLDING n=%d failed=%d\n", opened.Load(), failedOpen.Load())
	<-ctx.Done()
	var ok, failed atomic.Int64
	work2 := make(chan *hc)
	for range 32 {
		wg.Go(func() {
			for h := range work2 {
				if err := roundTrip(h); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
				h.c.Close()
			}
		})
	}
	for _, h := range cs {
		if h != nil {
			work2 <- h
		}
	}
	close(work2)
	wg.Wait()
	fmt.Printf("HOLD opened=%d open_failed=%d still_ok=%d failed=%d\n",
		opened.Load(), failedOpen.Load(), ok.Load(), failed.Load())
	return nil
}
