// Command client is the load and latency client of bench/run.sh for what wrk cannot do:
//
//	client oneshot -url URL [-token T | -dance TOKEN_URL -key-file F] [-ca F] -n N
//	    N calls one after the other, each on a new client with its own connection (a fresh
//	    process would do the same): with -dance, GET TOKEN_URL with the API key first, then the
//	    call with the token it got, on the same connection.
//	client burst -ready URL -url URL -n 64
//	    poll -ready every 2 ms until it answers 200, then N calls at once: the time from
//	    readiness to the last answer.
//	client load -url URL -c 16 -d 30s [-metrics URL -metric NAME]
//	    closed-loop load on keep-alive connections; with -metrics, polls that counter every
//	    25 ms and reports the latency of the requests that ended within 1 s after it moved
//	    (a token refresh) beside the rest.
//	client hold -url URL -n 4000 [-ca F -token T]
//	    opens N keep-alive connections, one GET on each, prints "HOLDING n=N", waits for
//	    SIGTERM or SIGINT, then sends one more GET on each and prints how many still worked.
//	client abuse -addr HOST:PORT -user ID [-slow 64 -uploaders 64 -normal 200 -d 10m]
//	    slow readers, trickling uploaders and normal clients at once (the abuse soak).
//
// Each prints one machine-readable line (ONESHOT, BURST, LOAD, HOLD, ABUSE key=value...) on stdout.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: client oneshot|burst|load|hold|abuse [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "oneshot":
		err = oneshot(os.Args[2:])
	case "burst":
		err = burst(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "hold":
		err = hold(os.Args[2:])
	case "abuse":
		err = abuse(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}
