package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
)

// overview ends dbaas-proxy help; README.md's "Operating it" agrees (TestHelpAndReadmeAgree).
const overview = `Configuration (precedence: flags > environment > config file > defaults):
  -config FILE        a YAML file; optional. Every key, with its default: dbaas-proxy config example
  ` + config.EnvPrefix + `<KEY>   every scalar key as a variable: the key's dotted path in upper case
                      with . turned into _, e.g. DBAAS_PROXY_LISTEN, DBAAS_PROXY_UPSTREAM_URL,
                      DBAAS_PROXY_UPSTREAM_REGION, DBAAS_PROXY_UPSTREAM_CA_FILE,
                      DBAAS_PROXY_AUTH_API_KEY_FILE, DBAAS_PROXY_LOG_LEVEL, DBAAS_PROXY_ADMIN_LISTEN.
                      Lists are comma-separated: DBAAS_PROXY_AUTH_REFRESH_ON=401,403.
                      inbound.clients, admin.clients, routes and identities are file-only
                      (variables set the default route). All of them: dbaas-proxy config keys
  Relative paths in the file resolve against the file's folder; in variables and flags, against
  the working directory. An error names where its value came from: the flag, the variable or
  FILE:LINE.

The API key, from the first of: auth.api_key_file, auth.api_key_command (a command that
prints it, e.g. [security, find-generic-password, -s, dbaas, -w]), ` + server.APIKeyEnv + `,
` + server.IBMCloudAPIKeyEnv + ` (the key or @FILE), HPDB_APIKEY (or ibm-credentials.env). Never a
command-line argument. auth.source vpc, command and trusted_profile read no API key.

Environment:
  ` + server.APIKeyEnv + `       the API key, when neither auth.api_key_file nor auth.api_key_command is set
  ` + server.IBMCloudAPIKeyEnv + `    the API key (or @FILE), when DBAAS_API_KEY is not set either
  IBMCLOUD_CR_TOKEN, IBMCLOUD_CR_PROFILE, IBMCLOUD_CR_VPC_URL, HPDB_APIKEY, HPDB_URL (also from
                      ibm-credentials.env): IBM's variables, below every setting of ours
  ` + config.EnvPrefix + `*       configuration keys (above)
  GOMEMLIMIT          the Go runtime's soft memory limit (default: 80% of a container's memory limit, else 256MiB)

Signals (run, demo):
  SIGHUP              reload the API key (file or command), the CA and TLS files, the client
                      lists (inbound.clients, admin.clients); reopen log.file
  SIGTERM, SIGINT     shut down gracefully: readiness turns 503, requests in flight get
                      shutdown_timeout to finish
  a second one        exit at once with 128+N
  As a Windows service, Stop and Shutdown drain like SIGTERM; a second Stop exits at once.

Exit codes:
  0                   success
  1                   a runtime failure: cannot listen, a failed check, warnings under
                      validate -strict, requests cut off at shutdown_timeout
  2                   bad usage or configuration
  128+N               a second signal N forced the exit
`

// usage prints the commands, the configuration, the signals and the exit codes.
func usage(w io.Writer) {
	fmt.Fprint(w, `dbaas-proxy is a local proxy for the IBM Cloud Hyper Protect DBaaS Manager API: plain HTTP in
on localhost, TLS pinned to the DBaaS Manager's CA out, the access token obtained, cached,
refreshed and attached by the proxy.

Usage:
  dbaas-proxy [run] [flags]        serve (run is the default command)
  dbaas-proxy COMMAND [flags]
  dbaas-proxy help COMMAND         a command's flags, with an example (also: COMMAND -h)
  dbaas-proxy --version

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\n"+overview)
}

// commandUsage prints one command's synopsis, description, flags and example.
func commandUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: dbaas-proxy %s %s\n\n%s\n", c.name, c.synopsis, wrap(c.details, 92))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		fs.PrintDefaults()
	}
	fmt.Fprintf(w, "\nExample:\n  %s\n", c.example)
	if c.name == "run" || c.name == "validate" || c.name == "token" || c.name == "doctor" {
		fmt.Fprint(w, "\nEvery config key is also a DBAAS_PROXY_ variable (dbaas-proxy config keys); see dbaas-proxy help.\n")
	}
}

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		if n > 0 && n+1+len(word) > width {
			b.WriteString("\n")
			n = 0
		} else if n > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// setupHelp prints the overview, or a command's help.
func setupHelp(*flag.FlagSet) runFunc {
	return func(_ context.Context, sys system, args []string) error {
		if len(args) == 0 {
			usage(sys.stdout)
			return nil
		}
		c, ok := lookup(args[0])
		if !ok || len(args) > 1 {
			return usageErr(errors.New("help: no such command; the commands are listed by dbaas-proxy help"))
		}
		fs := flagSet(c, sys.stdout)
		c.setup(fs)
		commandUsage(sys.stdout, c, fs)
		return nil
	}
}
