package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
)

// setupValidate checks the configuration and the files it names, and exits non-zero with
// every problem: of the values, and every file that is missing.
func setupValidate(fs *flag.FlagSet) runFunc {
	cf := addConfigFlags(fs)
	return func(_ context.Context, sys system, _ []string) error {
		cfg, err := cf.load(sys)
		if err != nil {
			return err
		}
		if err := missingFiles(cfg); err != nil {
			return usageErr(err)
		}
		// The files must be usable too: the CA file, the API key and the inbound TLS files.
		// Building the server reads them and starts nothing.
		if _, err := server.New(cfg, server.Options{Logger: zerolog.Nop(), Getenv: sys.getenv, Version: versionString()}); err != nil {
			return usageErr(err)
		}
		what := *cf.path
		if what == "" {
			what = "the configuration"
		}
		fmt.Fprintf(sys.stdout, "%s: ok\n", what)
		return nil
	}
}

// missingFiles reports every path key whose file is not there (for log.file, whose folder
// is not), each naming where the value came from.
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
			problems = append(problems, &configerr.Error{Key: k.Name, Source: cfg.Source(k.Name),
				Problem: fmt.Sprintf("cannot read %s: %v", files.Shown(check), errors.Unwrap(err))})
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

// setupHashToken reads a client token from stdin and prints the token_sha256 line for
// inbound.clients, so that plaintext client tokens never live in config files.
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

// setupHealthcheck probes /healthz of the admin listener: the Docker HEALTHCHECK, which has
// no shell or curl in a distroless image.
func setupHealthcheck(fs *flag.FlagSet) runFunc {
	addr := fs.String("addr", "", "the admin listener's `address` (default: admin.listen of the configuration, else "+config.Defaults().Admin.Listen+")")
	cf := addConfigFlags(fs)
	return func(ctx context.Context, sys system, _ []string) error {
		if *addr == "" {
			*addr = config.Defaults().Admin.Listen
			if *cf.path != "" || sys.environ != nil && hasConfigEnv(sys.environ()) {
				cfg, err := cf.load(sys)
				if err != nil {
					return err
				}
				*addr = cfg.Admin.Listen
			}
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := admin.Probe(ctx, probeAddr(*addr)); err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		fmt.Fprintln(sys.stdout, "ok")
		return nil
	}
}

// hasConfigEnv reports whether environ sets DBAAS_PROXY_ADMIN_LISTEN.
func hasConfigEnv(environ []string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, config.EnvName("admin.listen")+"=") {
			return true
		}
	}
	return false
}

// probeAddr turns a listen address into one to connect to: an unspecified host (0.0.0.0, ::
// or none) is reached on the loopback address.
func probeAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// setupConfig prints the annotated example (config example) or every key with its variable
// (config keys).
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
			return tw.Flush()
		}
		return usageErr(fmt.Errorf("config: unknown %q; say example or keys", args[0]))
	}
}
