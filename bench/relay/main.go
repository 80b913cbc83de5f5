// Command relay is the WAN emulator of bench/run.sh wan: a TCP relay on 127.0.0.1 that
// delays each direction of every connection by RTT/2, so that a request and its answer cost
// one round trip, and that charges a new connection the round trip of its TCP handshake (the
// client's first bytes leave RTT after the relay accepted the connection, as they would leave
// RTT after connect() began on a real path). A TLS 1.3 handshake through it then costs what it
// costs at that RTT: one round trip for TCP, one for TLS, one for each request.
//
// It prints "relay listening on ADDR" on stdout when ready and, for each connection, a line
// when the server's first bytes (its ServerHello) arrive and one when the connection ends:
//
//	RELAYHS id=N psk_offered=0|1 resumed=0|1
//	RELAYCONN id=N psk_offered=0|1 resumed=0|1 up_bytes=N down_bytes=N
//
// psk_offered says the client's TLS ClientHello carried a pre_shared_key extension (a
// resumption attempt); resumed says the server's ServerHello accepted it. A full handshake is
// psk_offered=0 or resumed=0. It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	to := flag.String("to", "", "upstream host:port")
	rtt := flag.Duration("rtt", 40*time.Millisecond, "round-trip time to emulate")
	flag.Parse()
	if *to == "" {
		fmt.Fprintln(os.Stderr, "relay: -to is required")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); l.Close() }()
	fmt.Printf("relay listening on %s rtt %s\n", l.Addr(), *rtt)
	r := &relay{to: *to, half: *rtt / 2, rtt: *rtt}
	var wg sync.WaitGroup
	for {
		c, err := l.Accept()
		if err != nil {
			break
		}
		wg.Add(1)
		go func() { defer wg.Done(); r.serve(ctx, c) }()
	}
	wg.Wait()
}

type relay struct {
	to        string
	half, rtt time.Duration
	ids       atomic.Int64
	outMu     sync.Mutex
}

// chunk is a piece of the byte stream and the time it may be written on the other side.
type chunk struct {
	b   []byte
	due time.Time
}

func (r *relay) serve(ctx context.Context, client net.Conn) {
	accepted := time.Now()
	id := r.ids.Add(1)
	defer client.Close()
	var d net.Dialer
	up, err := d.DialContext(ctx, "tcp", r.to)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay: dial:", err)
		return
	}
	defer up.Close()
	go func() { <-ctx.Done(); client.Close(); up.Close() }()
	var offered, resumed atomic.Bool
	var upBytes, downBytes atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	// Client to server: nothing leaves before the emulated TCP handshake is done.
	go func() {
		defer wg.Done()
		r.pump(up, client, accepted.Add(r.rtt), &upBytes, func(b []byte) { offered.Store(hasPSK(b, 1)) })
	}()
	go func() {
		defer wg.Done()
		r.pump(client, up, time.Time{}, &downBytes, func(b []byte) {
			resumed.Store(hasPSK(b, 2))
			r.outMu.Lock() // the ClientHello was read before the server could answer it
			fmt.Printf("RELAYHS id=%d psk_offered=%d resumed=%d\n", id, b2i(offered.Load()), b2i(resumed.Load()))
			r.outMu.Unlock()
		})
	}()
	wg.Wait()
	r.outMu.Lock()
	fmt.Printf("RELAYCONN id=%d psk_offered=%d resumed=%d up_bytes=%d down_bytes=%d\n",
		id, b2i(offered.Load()), b2i(resumed.Load()), upBytes.Load(), downBytes.Load())
	r.outMu.Unlock()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pump copies src to dst, each chunk written half an RTT after it was read (and not before
// notBefore + half an RTT). first sees the first bytes read (up to 16 KiB). At EOF it
// half-closes dst once everything read has been written.
func (r *relay) pump(dst, src net.Conn, notBefore time.Time, n *atomic.Int64, first func([]byte)) {
	q := make(chan chunk, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.b); err != nil {
				src.Close()
				for range q { // drain, so the reader never blocks
				}
				return
			}
			n.Add(int64(len(c.b)))
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	seen := false
	for {
		buf := make([]byte, 32<<10)
		k, err := src.Read(buf)
		if k > 0 {
			if !seen {
				seen = true
				first(buf[:k])
			}
			at := time.Now()
			if at.Before(notBefore) {
				at = notBefore
			}
			q <- chunk{b: buf[:k], due: at.Add(r.half)}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			break
		}
	}
	close(q)
	<-done
}

// hasPSK reports whether b starts with a TLS handshake record holding a ClientHello
// (msgType 1) or ServerHello (msgType 2) with a pre_shared_key extension (41).
func hasPSK(b []byte, msgType byte) bool {
	// record header (5) + handshake header (4)
	if len(b) < 9 || b[0] != 22 || b[5] != msgType {
		return false
	}
	p := b[9:]
	if len(p) < 34 { // version (2) + random (32)
		return false
	}
	p = p[34:]
	// session id
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return false
	}
	p = p[1+int(p[0]):]
	if msgType == 1 { // cipher suites (2-byte length) and compression methods (1-byte length)
		if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
			return false
		}
		p = p[2+int(binary.BigEndian.Uint16(p)):]
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return false
		}
		p = p[1+int(p[0]):]
	} else { // cipher suite (2) and compression method (1)
		if len(p) < 3 {
			return false
		}
		p = p[3:]
	}
	if len(p) < 2 {
		return false
	}
	ext := p[2:]
	if l := int(binary.BigEndian.Uint16(p)); l < len(ext) {
		ext = ext[:l]
	}
	for len(ext) >= 4 {
		typ, l := binary.BigEndian.Uint16(ext), int(binary.BigEndian.Uint16(ext[2:]))
		if typ == 41 {
			return true
		}
		if len(ext) < 4+l {
			return false
		}
		ext = ext[4+l:]
	}
	return false
}
