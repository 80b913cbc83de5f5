package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
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
	ex, closeFn, err := server.NewTokenSource(cfg, server.Options{
		Logger: newLogger(config.LogConfig{Level: "warn", Format: cfg.Log.Format}, sys.stderr), Getenv: sys.getenv, Version: version})
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
