// Command dbaas-emulator runs the DBaaS Manager emulator of internal/emulator on its own, for
// benchmarks and manual use. It prints one line with the URL and the user id on stdout, logs to
// stderr and exits cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
)

func main() {
	err := run(os.Args[1:])
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		os.Exit(2) // the flag package has printed the problem and the usage
	default:
		fmt.Fprintln(os.Stderr, "dbaas-emulator:", err)
		os.Exit(1)
	}
}

// usageError is a command-line error the flag package has already reported.
type usageError struct{ error }

func run(args []string) error {
	fs := flag.NewFlagSet("dbaas-emulator", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:20443", "listen address")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) to this file")
	keyOut := fs.String("key-out", "", "write the API key to this file (mode 0600)")
	lifetime := fs.Duration("token-lifetime", time.Hour, "lifetime of issued tokens")
	revokeEvery := fs.Duration("revoke-every", 0, "revoke every issued token this often (0 = never)")
	noHTTP2 := fs.Bool("no-http2", false, "offer HTTP/1.1 only")
	idleClose := fs.Duration("idle-close", 0, "close connections idle this long, as a load balancer does (0 = never)")
	iamListen := fs.String("iam", "", "serve IAM (POST /identity/token) on this address with its own CA (default: on -listen)")
	iamCAOut := fs.String("iam-ca-out", "", "write the IAM CA certificate (PEM) to this file")
	crOut := fs.String("cr-token-out", "", "write the accepted compute-resource token to this file (mode 0600)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	logger := zerolog.New(os.Stderr).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	srv, err := emulator.Start(emulator.Options{
		Addr: *listen, TokenLifetime: *lifetime, DisableHTTP2: *noHTTP2, Logger: logger,
		IdleClose: *idleClose, SeparateIAM: *iamListen != "", IAMAddr: *iamListen,
	})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	if *caOut != "" {
		if err := srv.WriteCAFile(*caOut); err != nil {
			return err
		}
	}
	if *iamCAOut != "" {
		if err := srv.WriteIAMCAFile(*iamCAOut); err != nil {
			return err
		}
	}
	for _, out := range []struct{ path, secret, what string }{
		{*keyOut, srv.APIKey(), "api key"}, {*crOut, srv.CRToken(), "cr token"},
	} {
		if out.path != "" {
			if err := writeSecret(out.path, out.secret, out.what); err != nil {
				return err
			}
		}
	}
	id, name := srv.TrustedProfile()
	fmt.Printf("dbaas-emulator listening on %s user_id %s iam %s profile_id %s profile_name %s\n",
		srv.URL(), srv.UserID(), srv.IAMURL(), id, name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	revoke(ctx, srv, *revokeEvery, logger)
	return srv.Close()
}

// revoke revokes every token every d until ctx ends; d <= 0 just waits for ctx.
func revoke(ctx context.Context, srv *emulator.Server, d time.Duration, log zerolog.Logger) {
	if d <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			srv.RevokeAll()
			log.Info().Msg("revoked every issued token")
		}
	}
}

// writeSecret writes s to path, readable by its owner only, even if the file existed; what
// names the secret in errors.
func writeSecret(path, s, what string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s file: %w", what, err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s file: %w", what, err)
	}
	if _, err := f.WriteString(s); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s file: %w", what, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s file: %w", what, err)
	}
	return nil
}
