package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// runToken prints a fresh access token on stdout, for
// curl -H "x-auth-token: $(dbaas-proxy token -config FILE)". With -json it prints the token,
// the user id and the expiry. This is the one place where dbaas-proxy shows a token: the user
// asked for it, on their own terminal.
func runToken(ctx context.Context, args []string, sys system) error {
	fs := flagSet("token", sys)
	configPath := fs.String("config", "", "the config `file`")
	asJSON := fs.Bool("json", false, "print {\"access_token\", \"user_id\", \"expiry\"} as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadFlags(*configPath, "", "")
	if err != nil {
		return err
	}
	ex, closeFn, err := newExchange(cfg, newLogger(LogConfig{Level: "warn", Format: cfg.Log.Format}, sys.stderr), sys.getenv)
	if err != nil {
		return usageErr(err)
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, cfg.Upstream.Timeout)
	defer cancel()
	tok, err := ex.Token(ctx)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if !*asJSON {
		fmt.Fprintln(sys.stdout, tok.AccessToken)
		return nil
	}
	enc := json.NewEncoder(sys.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		AccessToken string    `json:"access_token"`
		UserID      string    `json:"user_id"`
		Expiry      time.Time `json:"expiry"`
	}{tok.AccessToken, tok.UserID, tok.Expiry.UTC()})
}

// newExchange builds a one-off token exchange from cfg, for the token and doctor commands.
// The returned func closes the transport's connections.
func newExchange(cfg *Config, logger zerolog.Logger, getenv func(string) string) (*tokensource.Exchange, func(), error) {
	pool, err := readCA(cfg.Upstream.CAFile)
	if err != nil {
		return nil, nil, err
	}
	keys, err := newKeyStore(cfg.Auth.APIKeyFile, getenv)
	if err != nil {
		return nil, nil, err
	}
	tu, err := tokenURL(cfg.UpstreamURL(), cfg.Auth.TokenPath)
	if err != nil {
		return nil, nil, err
	}
	tr := newUpstreamTransport(cfg, pool)
	ex := tokensource.NewExchange(tokensource.ExchangeOptions{
		URL:             tu,
		Client:          &http.Client{Transport: tr, Timeout: cfg.Upstream.Timeout},
		Key:             keys.Key,
		DefaultLifetime: cfg.Auth.DefaultLifetime,
		Logger:          logger,
	})
	return ex, tr.CloseIdleConnections, nil
}
