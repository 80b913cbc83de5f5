package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// abuse is the abuse soak's traffic: slow readers that request a large log and never read it,
// trickling uploaders (one byte every -trickle, far below inbound.min_body_rate, reconnecting
// when cut), and normal clients doing GETs back to back, each with a deadline. It prints a
// line every 10 s and, at the end, "ABUSE normal_ok=N normal_failed=N ...": the normal
// clients must see no failure.
func abuse(args []string) error {
	fs := flag.NewFlagSet("abuse", flag.ContinueOnError)
	addr := fs.String("addr", "", "the proxy's HOST:PORT")
	user := fs.String("user", "", "the account id")
	slow := fs.Int("slow", 64, "slow readers")
	uploaders := fs.Int("uploaders", 64, "trickling uploaders")
	normal := fs.Int("normal", 200, "normal clients")
	trickle := fs.Duration("trickle", 2*time.Second, "the pause between an uploader's bytes")
	d := fs.Duration("d", 10*time.Minute, "how long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *user == "" {
		return errors.New("abuse needs -addr and -user")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *d)
	defer cancel()
	var ok, failed, cut atomic.Int64
	var wg sync.WaitGroup
	spawn := func(n int, f func()) {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					f()
				}
			}()
		}
	}
	raw := func(req string, then func(net.Conn)) {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", *addr)
		if err != nil {
			return
		}
		defer conn.Close()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		if _, err := io.WriteString(conn, req); err == nil {
			then(conn)
		}
	}
	spawn(*slow, func() {
		raw(fmt.Sprintf("GET /api/v3/%s/nodes/node-1/logs/postgresql.log?size=10000000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", *user),
			func(net.Conn) { <-ctx.Done() }) // never read: the proxy must cut it, not hang
	})
	spawn(*uploaders, func() {
		raw(fmt.Sprintf("POST /api/v3/%s/services HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n", *user),
			func(c net.Conn) {
				for ctx.Err() == nil {
					if _, err := c.Write([]byte("x")); err != nil {
						cut.Add(1)
						return
					}
					time.Sleep(*trickle)
				}
			})
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *normal}}
	url := fmt.Sprintf("http://%s/api/v3/%s/services", *addr, *user)
	spawn(*normal, func() {
		resp, err := client.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		switch {
		case err == nil:
			ok.Add(1)
		case ctx.Err() == nil:
			failed.Add(1)
		}
		time.Sleep(50 * time.Millisecond)
	})
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			fmt.Printf("abuse: normal_ok=%d normal_failed=%d uploads_cut=%d\n", ok.Load(), failed.Load(), cut.Load())
		}
	}
	wg.Wait()
	fmt.Printf("ABUSE normal_ok=%d normal_failed=%d uploads_cut=%d\n", ok.Load(), failed.Load(), cut.Load())
	return nil
}
