package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
)

// setupToken prints a fresh access token (-json: with user id and expiry), for curl -H
// "x-auth-token: $(dbaas-proxy token -config FILE)". The one place dbaas-proxy shows a token:
// the user asked for it, on their own terminal.
func setupToken(fs *flag.FlagSet) runFunc {
	cf := addConfigFlags(fs)
	asJSON := fs.Bool("json", false, "print {\"access_token\", \"user_id\", \"expiry\"} as JSON")
	route := fs.String("route", "", "the token of this route's identity (default: the first route)")
	ident := fs.String("identity", "", "the token of this identity (at the token endpoint of the first route that uses it)")
	return func(ctx context.Context, sys system, _ []string) error {
		cfg, err := cf.load(sys)
		if err != nil {
			return err
		}
		rc := cfg.RouteConfigs()[0]
		switch {
		case *route != "" && *ident != "":
			return usageErr(errors.New("token: give -route or -identity, not both"))
		case *route != "":
			rc = cfg.ForRoute(*route)
		case *ident != "":
			rc = cfg.ForIdentity(*ident)
		}
		if rc == nil {
			return usageErr(fmt.Errorf("token: no route or identity named %q%s", *route+*ident, namesHint(cfg)))
		}
		return runToken(ctx, sys, rc, *asJSON)
	}
}

// namesHint lists the routes and identities of cfg for an error message.
func namesHint(cfg *config.Config) string {
	var routes []string
	for _, rc := range cfg.RouteConfigs() {
		routes = append(routes, rc.RouteName)
	}
	return "; routes: " + strings.Join(routes, ", ") + "; identities: " + strings.Join(cfg.IdentityNames(), ", ")
}

func runToken(ctx context.Context, sys system, cfg *config.Config, asJSON bool) error {
	ex, closeFn, err := server.NewTokenSource(cfg, server.Options{
		Logger: newLogger(config.LogConfig{Level: "warn", Format: cfg.Log.Format}, sys.stderr), Getenv: sys.getenv, Version: versionString()})
	if err != nil {
		return usageErr(err)
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, cfg.Auth.Timeout)
	defer cancel()
	tok, err := ex.Token(ctx)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if !asJSON {
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
