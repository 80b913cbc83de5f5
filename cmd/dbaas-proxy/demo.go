package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
)

// setupDemo runs the proxy in front of the built-in emulator and prints commands that work.
func setupDemo(fs *flag.FlagSet) runFunc {
	listenFlag := fs.String("listen", "127.0.0.1:20000", "the proxy's listen `address`")
	adminFlag := fs.String("admin-listen", "127.0.0.1:9090", "the admin listener's `address` (\"\" disables it)")
	levelFlag := fs.String("log-level", "info", "the log `level`")
	lifetime := fs.Duration("token-lifetime", time.Hour, "the emulator's token `lifetime`")
	source := fs.String("source", config.SourceDBaaS, "the token `source` (auth.source): dbaas, iam, trusted_profile, vpc or command, against the emulator's IAM or metadata service")
	return func(ctx context.Context, sys system, _ []string) error {
		return runDemo(ctx, sys, *listenFlag, *adminFlag, *levelFlag, *lifetime, *source)
	}
}

func runDemo(ctx context.Context, sys system, listen, adminListen, level string, lifetime time.Duration, source string) error {
	em, err := emulator.Start(emulator.Options{TokenLifetime: lifetime, Metadata: source == config.SourceVPC,
		SeparateIAM: source == config.SourceIAM || source == config.SourceTrustedProfile})
	if err != nil {
		return fmt.Errorf("demo: starting the emulator: %w", err)
	}
	defer em.Close()
	dir, err := os.MkdirTemp("", "dbaas-proxy-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	exit := sys.exit
	sys.exit = func(code int) { // a second Ctrl-C exits at once: remove the key and the CA first
		os.RemoveAll(dir)
		exit(code)
	}
	cfg := config.Defaults()
	cfg.Listen, cfg.Admin.Listen, cfg.Log.Level = listen, adminListen, level
	cfg.Upstream.URL = em.URL()
	cfg.Upstream.CAFile = filepath.Join(dir, "ca.pem")
	cfg.Auth.APIKeyFile = filepath.Join(dir, "apikey")
	if err := em.WriteCAFile(cfg.Upstream.CAFile); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(cfg.Auth.APIKeyFile, []byte(em.APIKey()+"\n"), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := demoSource(&cfg, em, dir, source); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageErr(err)
	}
	printDemo(sys, &cfg, em)
	return serve(ctx, func() (*config.Config, error) { return &cfg, nil }, sys)
}

func printDemo(sys system, cfg *config.Config, em *emulator.Server) {
	base := "http://" + cfg.Listen
	fmt.Fprintf(sys.stdout, `dbaas-proxy demo: the built-in DBaaS Manager emulator runs at %s
(TLS with a CA generated just now, account %s), and dbaas-proxy serves it at %s.
The proxy's token source is %s.
No API key or token is needed on this side. Try, in another terminal:

  curl -s %s/api/v3/me/services
  curl -s %s/api/v3/%s/services
  curl -s %s/api/v1/auth/token
`, em.URL(), em.UserID(), base, demoSourceLine(cfg, em), base, base, em.UserID(), base)
	if cfg.Admin.Listen != "" {
		fmt.Fprintf(sys.stdout, `
  curl -s http://%s/readyz
  open http://%s/ in a browser for the status page
`, cfg.Admin.Listen, cfg.Admin.Listen)
	}
	fmt.Fprintf(sys.stdout, "\nPress Ctrl-C to stop.\n\n")
}
