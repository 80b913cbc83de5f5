package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
)

// setupValidate is the preflight: run's flags, run's checks at start, and the warnings.
func setupValidate(fs *flag.FlagSet) runFunc {
	cf := runFlags(fs)
	strict := fs.Bool("strict", false, "exit 1 when there are warnings")
	return func(_ context.Context, sys system, _ []string) error {
		cfg, err := cf.load(sys)
		if err != nil {
			return err
		}
		srv, err := preflight(cfg, sys, zerolog.Nop())
		if err != nil {
			return err
		}
		warnings := preflightWarnings(cfg, srv)
		for _, w := range warnings {
			fmt.Fprintln(sys.stdout, "warning: "+w)
		}
		fmt.Fprintf(sys.stdout, "%s: ok\n", cmp.Or(*cf.path, "the configuration"))
		if *strict && len(warnings) > 0 {
			return &exitCode{code: exitFailure, err: fmt.Errorf("validate: %d warnings (-strict)", len(warnings))}
		}
		return nil
	}
}

// preflight checks what run checks at start: the named files exist and the server builds.
func preflight(cfg *config.Config, sys system, logger zerolog.Logger) (*server.Server, error) {
	if err := missingFiles(cfg); err != nil {
		return nil, usageErr(err)
	}
	srv, err := server.New(cfg, server.Options{Logger: logger, Getenv: sys.getenv, Version: versionString()})
	if err != nil {
		return nil, usageErr(err)
	}
	return srv, nil
}

// preflightWarnings are the risks run logs and validate prints, as "KEY: problem (fix)".
func preflightWarnings(cfg *config.Config, srv *server.Server) []string {
	w := append(srv.Warnings(), srv.KeyWarnings()...)
	if a := cfg.Listen; !strings.HasPrefix(a, "unix:") && !netrule.IsLoopbackListen(a) {
		w = append(w, fmt.Sprintf("listen: %q is not a loopback address (use 127.0.0.1, or keep inbound.clients or client certificates on it)", a))
	}
	if a := cfg.Admin.Listen; a != "" && !netrule.IsLoopbackListen(a) {
		w = append(w, fmt.Sprintf("admin.listen: %q is not a loopback address (use 127.0.0.1, or list admin.clients: the status "+
			"page, /status.json and the POSTs answer 401 to everyone else; /healthz, /readyz and /metrics are open to all)", a))
	}
	if u, err := url.Parse(cfg.Upstream.URL); err == nil && cfg.Upstream.URL != "" && u.Port() == "" {
		w = append(w, fmt.Sprintf("upstream.url: %q has no explicit port, so 443 is used (the DBaaS Manager listens on 20000: add :20000)", cfg.Upstream.URL))
	}
	for _, c := range fileCerts(cfg.Upstream.CAFile) {
		if !c.IsCA {
			w = append(w, fmt.Sprintf("upstream.ca_file: %s holds %q, which is not a CA certificate: trusting it breaks at the "+
				"server's next certificate renewal (download the CA file from the service dashboard)", cfg.Upstream.CAFile, c.Subject.String()))
		}
	}
	return w
}

// missingFiles reports every path key whose file (log.file: whose folder) is not there.
func missingFiles(cfg *config.Config) error {
	var problems []*configerr.Error
	for _, k := range config.Keys() {
		if !k.Path {
			continue
		}
		p := cfg.Value(k.Name)
		if p == "" {
			continue
		}
		check := p
		if k.Name == "log.file" {
			check = filepath.Dir(p)
		}
		if _, err := os.Stat(check); err != nil {
			src := cfg.Source(k.Name)
			problem := fmt.Sprintf("cannot read %s: %v", files.Shown(check), errors.Unwrap(err))
			if wd, _ := os.Getwd(); !filepath.IsAbs(check) && (strings.HasPrefix(src, "flag") || strings.HasPrefix(src, "environment")) {
				problem += " (a relative path from a flag or variable is resolved against the working directory " + wd + ")"
			}
			problems = append(problems, &configerr.Error{Key: k.Name, Source: src, Problem: problem})
		}
	}
	return configerr.Join(problems)
}

func setupVersion(*flag.FlagSet) runFunc {
	return func(_ context.Context, sys system, _ []string) error {
		fmt.Fprintf(sys.stdout, "dbaas-proxy %s (%s, %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	}
}

// setupHashToken prints the token_sha256 of a stdin token: no plaintext tokens in config files.
func setupHashToken(*flag.FlagSet) runFunc {
	return func(_ context.Context, sys system, _ []string) error {
		line, err := bufio.NewReader(io.LimitReader(sys.stdin, 64<<10)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("hash-token: reading stdin: %w", err)
		}
		token := strings.TrimSpace(line)
		if len(token) < 16 {
			return usageErr(errors.New("hash-token: give a client token of at least 16 characters on stdin, e.g. from: openssl rand -hex 32"))
		}
		fmt.Fprintf(sys.stdout, "token_sha256: %s\n", inbound.HashToken(token))
		return nil
	}
}

// setupProbe is healthcheck (one probe, for a Docker HEALTHCHECK in a distroless image with no
// shell or curl) or, with wait, wait: probe /readyz until 200 or -timeout.
func setupProbe(wait bool) func(*flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		ready, timeout := &wait, 5*time.Second
		if wait {
			fs.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait")
		} else {
			ready = fs.Bool("ready", false, "probe /readyz (the token is usable) instead of /healthz (the process serves)")
		}
		addr := probeFlags(fs)
		return func(ctx context.Context, sys system, _ []string) error {
			a, err := addr(sys)
			if err != nil {
				return err
			}
			path := "/healthz"
			if *ready {
				path = "/readyz"
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			for err = admin.Probe(ctx, a, path); err != nil && wait; err = admin.Probe(ctx, a, path) {
				select {
				case <-ctx.Done():
					return fmt.Errorf("wait: not ready within %s: %w", timeout, err)
				case <-time.After(250 * time.Millisecond):
				}
			}
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			fmt.Fprintln(sys.stdout, "ok")
			return nil
		}
	}
}

// probeFlags defines -addr and -config; its func returns -addr, else admin.listen, else default.
func probeFlags(fs *flag.FlagSet) func(system) (string, error) {
	addr := fs.String("addr", "", "the admin listener's `address` (default: admin.listen of the configuration, else "+config.Defaults().Admin.Listen+")")
	cf := addConfigFlags(fs)
	return func(sys system) (string, error) {
		if *addr != "" {
			return *addr, nil
		}
		setsAddr := func(kv string) bool { return strings.HasPrefix(kv, config.EnvName("admin.listen")+"=") }
		if *cf.path != "" || sys.environ != nil && slices.ContainsFunc(sys.environ(), setsAddr) {
			cfg, err := cf.load(sys)
			if err != nil {
				return "", err
			}
			return cfg.Admin.Listen, nil
		}
		return config.Defaults().Admin.Listen, nil
	}
}

// setupConfig prints the annotated example (config example) or every key (config keys).
func setupConfig(*flag.FlagSet) runFunc {
	return func(_ context.Context, sys system, args []string) error {
		if len(args) != 1 {
			return usageErr(errors.New("config: say example (the annotated example file) or keys (every key and its variable)"))
		}
		switch args[0] {
		case "example":
			_, err := io.WriteString(sys.stdout, config.Example)
			return err
		case "keys":
			tw := tabwriter.NewWriter(sys.stdout, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tVARIABLE\tTYPE")
			for _, k := range config.Keys() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.Env, k.Type)
			}
			fmt.Fprintln(tw, "inbound.clients\t(file only)\ta list of mappings")
			fmt.Fprintln(tw, "admin.clients\t(file only)\ta list of mappings")
			fmt.Fprintln(tw, "identities\t(file only)\ta list of mappings")
			fmt.Fprintln(tw, "routes\t(file only)\ta list of mappings")
			return tw.Flush()
		}
		return usageErr(errors.New("config: say example or keys"))
	}
}
