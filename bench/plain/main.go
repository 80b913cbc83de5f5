// Command plain is the floor of bench/run.sh (PLAIN_FLAGS adds flags, e.g. "-max-idle 2
// -buffer-pool=false" for a ReverseProxy on net/http's defaults): a bare net/http/httputil.ReverseProxy with a
// fixed x-auth-token and nothing of dbaas-proxy's packages (no router, guard, token source,
// access log, metrics, request ids or response-writer wrappers). Its upstream transport has
// dbaas-proxy's settings (cmd/dbaas-proxy/upstream.go: a pool of 256 idle connections, 32 KiB
// buffers, no compression, the CA file as the only trust anchor) and the ReverseProxy a pool
// of 32 KiB copy buffers, as dbaas-proxy's does. So the difference between the two is the
// project's own per-request work.
//
// It prints "plain listening on ADDR" on stdout when ready and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "plain:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	upstream := flag.String("upstream", "", "upstream base URL (https://host:port)")
	caFile := flag.String("ca", "", "CA file (PEM) of the upstream")
	tokenFile := flag.String("token-file", "", "file holding the x-auth-token to send")
	h2 := flag.Bool("http2", false, "offer HTTP/2 to the upstream")
	maxIdle := flag.Int("max-idle", 256, "idle upstream connections kept (net/http's default transport: 2)")
	pooled := flag.Bool("buffer-pool", true, "reuse the 32 KiB copy buffers (false: the ReverseProxy's default, one per request)")
	flag.Parse()
	up, err := url.Parse(*upstream)
	if err != nil || up.Host == "" {
		return fmt.Errorf("bad -upstream %q", *upstream)
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", *caFile)
	}
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		return err
	}
	token := strings.TrimSpace(string(tok))
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if *h2 {
		tc.NextProtos = []string{"h2", "http/1.1"}
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          *maxIdle,
		MaxIdleConnsPerHost:   *maxIdle,
		DisableCompression:    true,
		ForceAttemptHTTP2:     *h2,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = up.Scheme
			pr.Out.URL.Host = up.Host
			pr.Out.Host = ""
			pr.Out.Header.Set("x-auth-token", token)
		},
		Transport: tr,
	}
	if *pooled {
		rp.BufferPool = bufferPool{}
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	fmt.Printf("plain listening on %s\n", l.Addr())
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}

type bufferPool struct{}

var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(bufs.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { bufs.Put(&b) }
