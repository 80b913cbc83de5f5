package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// setupPins is `dbaas-proxy pins`: the SPKI pins of the chain the upstream sends and of the CA
// file, in the form upstream.pins takes, so that a user can copy them.
func setupPins(fs *flag.FlagSet) runFunc {
	cf := addConfigFlags(fs)
	return func(ctx context.Context, sys system, _ []string) error {
		cfg, err := cf.load(sys)
		if err != nil {
			return err
		}
		pool, err := upstream.ReadCA(cfg.Upstream.CAFile)
		if err != nil {
			return usageErr(err)
		}
		u, err := url.Parse(cfg.UpstreamURL())
		if err != nil {
			return usageErr(fmt.Errorf("upstream.url: %w", err))
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "443")
		}
		ctx, cancel := context.WithTimeout(ctx, cfg.Upstream.Timeout)
		defer cancel()
		// Not verified while dialing, so that the chain is shown even when it does not verify;
		// it is verified below, and said so.
		d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // verified below
		conn, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return fmt.Errorf("pins: connecting to %s: %w", host, err)
		}
		defer conn.Close()
		state := conn.(*tls.Conn).ConnectionState()
		fmt.Fprintf(sys.stdout, "# the chain %s sends (leaf first)\n", host)
		inter := x509.NewCertPool()
		for i, c := range state.PeerCertificates {
			fmt.Fprintf(sys.stdout, "%s  # %s\n", upstream.Pin(c), c.Subject)
			if i > 0 {
				inter.AddCert(c)
			}
		}
		name := cfg.Upstream.ServerName
		if name == "" {
			name = u.Hostname()
		}
		if len(state.PeerCertificates) > 0 {
			if _, err := state.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: name}); err != nil {
				fmt.Fprintf(sys.stdout, "# WARNING: this chain does not verify against %s for %q: %v\n", cfg.Upstream.CAFile, name, err)
			} else {
				fmt.Fprintf(sys.stdout, "# verified against %s for %q\n", cfg.Upstream.CAFile, name)
			}
		}
		if data, err := os.ReadFile(cfg.Upstream.CAFile); err == nil {
			fmt.Fprintf(sys.stdout, "# the CA file %s\n", cfg.Upstream.CAFile)
			for rest := data; ; {
				var block *pem.Block
				if block, rest = pem.Decode(rest); block == nil {
					break
				}
				if c, err := x509.ParseCertificate(block.Bytes); err == nil && block.Type == "CERTIFICATE" {
					fmt.Fprintf(sys.stdout, "%s  # %s\n", upstream.Pin(c), c.Subject)
				}
			}
		}
		fmt.Fprintf(sys.stdout, "# upstream.pins: pin the CA's key (it outlives the leaf's), and add the next key before a rotation\n")
		return nil
	}
}
