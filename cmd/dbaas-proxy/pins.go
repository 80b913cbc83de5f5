package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
)

// setupPins prints the SPKI pins of each upstream's chain and CA file, as upstream.pins takes.
func setupPins(fs *flag.FlagSet) runFunc {
	cf := addConfigFlags(fs)
	return func(ctx context.Context, sys system, _ []string) error {
		cfg, err := cf.load(sys)
		if err != nil {
			return err
		}
		routes := cfg.RouteConfigs()
		for _, rc := range routes {
			if len(routes) > 1 {
				fmt.Fprintf(sys.stdout, "# route %s\n", rc.RouteName)
			}
			if err := printPins(ctx, sys, rc); err != nil {
				return err
			}
		}
		fmt.Fprintf(sys.stdout, "# upstream.pins: pin the CA's key (it outlives the leaf's), and add the next key before a rotation\n")
		return nil
	}
}

// printPins prints the pins of the chain that the upstream of cfg sends and of its CA file.
func printPins(ctx context.Context, sys system, cfg *config.Config) error {
	pool, err := upstream.ReadCA(cfg.Upstream.CAFile)
	if err != nil {
		return usageErr(err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Upstream.Timeout)
	defer cancel()
	pc, err := dialChain(ctx, cfg)
	if err != nil {
		return fmt.Errorf("pins: connecting to the upstream: %w", err)
	}
	fmt.Fprintf(sys.stdout, "# the chain %s sends (leaf first)\n", pc.host)
	for _, c := range pc.state.PeerCertificates {
		fmt.Fprintf(sys.stdout, "%s  # %s\n", upstream.Pin(c), c.Subject)
	}
	if _, err := pc.verify(pool); err != nil {
		fmt.Fprintf(sys.stdout, "# WARNING: this chain does not verify against %s for %q: %v\n", caName(cfg), pc.name, err)
	} else {
		fmt.Fprintf(sys.stdout, "# verified against %s for %q\n", caName(cfg), pc.name)
	}
	if cfg.Upstream.CAFile != "" {
		fmt.Fprintf(sys.stdout, "# the CA file %s\n", cfg.Upstream.CAFile)
		for _, c := range fileCerts(cfg.Upstream.CAFile) {
			fmt.Fprintf(sys.stdout, "%s  # %s\n", upstream.Pin(c), c.Subject)
		}
	}
	return nil
}

// fileCerts are the certificates of the PEM file at path; none when it cannot be read.
func fileCerts(path string) []*x509.Certificate {
	var certs []*x509.Certificate
	data, _ := files.Read("upstream.ca_file", path, files.MaxConfig)
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if c, err := x509.ParseCertificate(block.Bytes); err == nil && block.Type == "CERTIFICATE" {
			certs = append(certs, c)
		}
	}
	return certs
}
