package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/emulator"
	"github.com/dbaas-proxy/dbaas-proxy/internal/upstream"
	"github.com/dbaas-proxy/dbaas-proxy/tokensource"
)

// demoSource sets auth.source for `demo -source`: iam and trusted_profile use the emulator's
// IAM, on a listener of its own with a CA of its own (written to dir, for auth.iam_ca_file);
// trusted_profile also gets the emulator's CR token in a file and no API key; vpc the
// emulator's metadata service; command runs this program again as the token command (a
// hidden subcommand standing in for `ibmcloud iam oauth-tokens`), with no API key of its own.
func demoSource(cfg *config.Config, em *emulator.Server, dir, source string) error {
	cfg.Auth.Source = source
	switch source {
	case config.SourceDBaaS:
		return nil
	case config.SourceVPC:
		cfg.Auth.APIKeyFile, cfg.Auth.MetadataURL = "", em.MetadataURL()
		return nil
	case config.SourceCommand:
		exe, err := os.Executable()
		cfg.Auth.TokenCommand = []string{exe, demoTokenCommand, em.URL(), cfg.Upstream.CAFile, cfg.Auth.APIKeyFile}
		cfg.Auth.APIKeyFile = ""
		return err
	case config.SourceIAM, config.SourceTrustedProfile:
	default:
		return usageErr(fmt.Errorf("demo: -source %q: use dbaas, iam, trusted_profile, vpc or command", source))
	}
	cfg.Auth.IAMURL = em.IAMURL()
	cfg.Auth.IAMCAFile = filepath.Join(dir, "iam-ca.pem")
	if err := em.WriteIAMCAFile(cfg.Auth.IAMCAFile); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if source == config.SourceIAM {
		return nil
	}
	cfg.Auth.APIKeyFile = ""
	cfg.Auth.ProfileID, _ = em.TrustedProfile()
	cfg.Auth.CRTokenFile = filepath.Join(dir, "cr-token")
	if err := os.WriteFile(cfg.Auth.CRTokenFile, []byte(em.CRToken()+"\n"), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// demoSourceLine says where the demo's token comes from, for the banner.
func demoSourceLine(cfg *config.Config, em *emulator.Server) string {
	switch cfg.Auth.Source {
	case config.SourceIAM:
		return "iam: the API key is exchanged at the emulated IBM Cloud IAM " + em.IAMURL() +
			" (its own CA), and the token is sent as Authorization: Bearer"
	case config.SourceTrustedProfile:
		return "trusted_profile: trusted profile " + cfg.Auth.ProfileID + " with the CR token in " +
			cfg.Auth.CRTokenFile + ", at the emulated IBM Cloud IAM " + em.IAMURL() + "; no API key"
	case config.SourceVPC:
		return "vpc: the emulated VPC instance metadata service " + em.MetadataURL() + "; no API key"
	case config.SourceCommand:
		return "command: the token command " + strings.Join(cfg.Auth.TokenCommand[:2], " ") +
			" ... prints a token, as `ibmcloud iam oauth-tokens --output json` does; no API key"
	}
	return "dbaas: the API key is exchanged at the emulator's " + cfg.Auth.TokenPath
}

// demoTokenCommand is the hidden subcommand that demo -source command runs as its token
// command: IAM_URL CA_FILE KEY_FILE exchanges the key at the emulator's IAM and prints the
// token as the IBM Cloud CLI does ({"iam_token": "Bearer ..."}).
const demoTokenCommand = "demo-token-command"

func runDemoToken(ctx context.Context, args []string, sys system) int {
	if len(args) != 3 {
		fmt.Fprintln(sys.stderr, "dbaas-proxy: "+demoTokenCommand+" IAM_URL CA_FILE KEY_FILE")
		return exitUsage
	}
	pool, err := upstream.ReadCA(args[1])
	if err == nil {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		defer tr.CloseIdleConnections()
		var tok tokensource.Token
		tok, err = tokensource.NewIAM(tokensource.IAMOptions{URL: args[0], Client: &http.Client{Transport: tr},
			Key: func() (string, error) { return tokensource.ReadKeyFile(args[2]) }}).Token(ctx)
		if err == nil {
			fmt.Fprintf(sys.stdout, "{\"iam_token\": \"Bearer %s\", \"expiration\": %d}\n", tok.AccessToken, tok.Expiry.Unix())
			return exitOK
		}
	}
	fmt.Fprintln(sys.stderr, "dbaas-proxy: "+demoTokenCommand+":", err)
	return exitFailure
}
