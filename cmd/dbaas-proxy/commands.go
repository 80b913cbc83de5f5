package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/configerr"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
)

// command is one subcommand: setup defines its flags on fs and returns what runs it.
type command struct {
	name     string
	synopsis string // the flags and operands, e.g. "[-config FILE] [-json]"
	summary  string // one line, for the list of commands
	details  string // what it does, for help COMMAND
	example  string
	operands []string // the words it takes after its flags (completion), e.g. bash zsh
	setup    func(fs *flag.FlagSet) runFunc
}

type runFunc func(ctx context.Context, sys system, args []string) error

func commands() []command {
	return []command{
		{name: "run", synopsis: "[-config FILE] [-listen ADDR] [-admin-listen ADDR] [-log-level LEVEL]",
			summary: "serve until a signal (the default command)",
			details: "Serves the proxy and the admin listener until SIGTERM or SIGINT. SIGHUP reloads the API key, the CA and TLS files and reopens log.file.",
			example: "dbaas-proxy run -config /etc/dbaas-proxy/config.yaml\n  DBAAS_PROXY_UPSTREAM_REGION=eu-de DBAAS_PROXY_UPSTREAM_CA_FILE=ca.pem DBAAS_API_KEY=... dbaas-proxy",
			setup:   setupServe},
		{name: "demo", synopsis: "[-listen ADDR] [-admin-listen ADDR] [-log-level LEVEL] [-token-lifetime D] [-source dbaas|iam|trusted_profile|vpc|command]",
			summary: "serve in front of the built-in DBaaS Manager emulator",
			details: "Starts the built-in emulator over TLS with a fresh CA and serves it, with no API key needed; prints commands to try.",
			example: "dbaas-proxy demo -listen 127.0.0.1:20001", setup: setupDemo},
		{name: "validate", synopsis: "[-strict] [run's flags]",
			summary: "the preflight: check what run would use; print every problem and warning",
			details: "Takes run's flags and checks what run would check at start (the configuration, every file it names, the API key), without contacting the upstream or listening. Prints each risk as warning: KEY: problem (fix). Exits 0 (with warnings), 1 with warnings and -strict, 2 with every problem, each naming its key and where the value came from.",
			example: "dbaas-proxy validate -config config.yaml", setup: setupValidate},
		{name: "token", synopsis: "[-config FILE] [-json] [-route NAME | -identity NAME]",
			summary: "print a fresh access token",
			details: "Exchanges the API key for an access token and prints it on stdout (with -json: the token, user id and expiry); of the first route, or of -route NAME or -identity NAME.",
			example: `curl -H "x-auth-token: $(dbaas-proxy token -config config.yaml)" https://...`, setup: setupToken},
		{name: "doctor", synopsis: "[-config FILE]",
			summary: "check CA, TLS, API key, token and clock; print the values in force",
			details: "Checks the configuration against the real upstream: the CA file, the TLS handshake, the API key's source, the token exchange, one authenticated call and the clock; then prints the configuration in force. Never prints the key or the token.",
			example: "dbaas-proxy doctor -config config.yaml", setup: setupDoctor},
		{name: "pins", synopsis: "[-config FILE]",
			summary: "print the SPKI pins of the upstream's certificate chain, for upstream.pins",
			details: "Connects to the upstream and prints the pin (sha256/<base64 of the SHA-256 of the SubjectPublicKeyInfo>) of each certificate it sends, and whether the chain verifies against upstream.ca_file. Copy one into upstream.pins.",
			example: "dbaas-proxy pins -config config.yaml", setup: setupPins},
		{name: "hash-token", synopsis: "< TOKEN",
			summary: "read a client token from stdin, print its token_sha256 line",
			details: "Reads a client token (16 characters at least) from stdin and prints the token_sha256 line for inbound.clients, so that client tokens never live in config files.",
			example: "openssl rand -hex 32 | tee client.token | dbaas-proxy hash-token", setup: setupHashToken},
		{name: "healthcheck", synopsis: "[-ready] [-addr HOST:PORT] [-config FILE]",
			summary: "probe the admin listener's /healthz, or /readyz with -ready (for a Docker HEALTHCHECK)",
			details: "Probes /healthz (with -ready: /readyz) of the admin listener (-addr, else admin.listen of the configuration); exits 0 when it answers 200, 1 when not.",
			example: `HEALTHCHECK CMD ["/dbaas-proxy", "healthcheck"]`, setup: setupProbe(false)},
		{name: "wait", synopsis: "[-timeout 30s] [-addr HOST:PORT] [-config FILE]",
			summary: "wait until the proxy is ready (/readyz answers 200), for scripts and jobs",
			details: "Polls /readyz of the admin listener (-addr, else admin.listen of the configuration) until it answers 200 (exit 0) or -timeout passes (exit 1).",
			example: "dbaas-proxy wait -timeout 60s && ./my-job", setup: setupProbe(true)},
		{name: "config", synopsis: "example | keys",
			summary: "print the annotated example configuration, or every key and its variable",
			details: "config example prints config.example.yaml: every key with its default and what it does. config keys lists every key that a DBAAS_PROXY_ variable or a file can set, with its variable and type.",
			example: "dbaas-proxy config example > config.yaml", operands: []string{"example", "keys"}, setup: setupConfig},
		{name: "completion", synopsis: "bash | zsh | fish | powershell",
			summary:  "print a shell completion script",
			details:  "Prints a completion script for the shell: the commands, their flags and file names for -config (the script asks dbaas-proxy itself).",
			example:  "source <(dbaas-proxy completion bash)\n  dbaas-proxy completion fish > ~/.config/fish/completions/dbaas-proxy.fish",
			operands: []string{"bash", "zsh", "fish", "powershell"}, setup: setupCompletion},
		{name: "version", summary: "print the version",
			details: "Prints the version (set at build time, else the module version or the VCS revision), the Go version and the platform.",
			example: "dbaas-proxy version", setup: setupVersion},
		{name: "help", synopsis: "[COMMAND]", summary: "print this help, or a command's",
			details: "Prints the overview, or the flags of COMMAND with an example.",
			example: "dbaas-proxy help doctor", setup: setupHelp},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// runMain runs the command in args and returns the process's exit code.
func runMain(ctx context.Context, args []string, sys system) int {
	total := len(args)
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help": // the overview; "run -h" is run's own help
			usage(sys.stdout)
			return exitOK
		case "-version", "--version":
			args = append([]string{"version"}, args[1:]...)
		case "__complete": // the completion scripts ask here
			complete(sys.stdout, args[1:])
			return exitOK
		}
	}
	name := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	c, ok := lookup(name)
	if !ok {
		var names []string
		for _, c := range commands() {
			names = append(names, c.name)
		}
		hint := ""
		if m := configerr.Closest(name, names); m != "" {
			hint = "; did you mean " + m + "?"
		}
		fmt.Fprintf(sys.stderr, "dbaas-proxy: unknown command (argument 1, %d characters)%s\n\n", len(name), hint)
		usage(sys.stderr)
		return exitUsage
	}
	fs := flagSet(c, sys.stderr)
	run := c.setup(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage // the flag package has printed the problem and the usage
	}
	if len(c.operands) == 0 && c.name != "help" && fs.NArg() > 0 {
		pos := total - fs.NArg() + 1
		return report(usageErr(fmt.Errorf("unexpected argument %d (%d characters, not shown: it could be a secret); "+
			"the API key is never an argument: use auth.api_key_file, auth.api_key_command or %s", pos, len(fs.Arg(0)), server.APIKeyEnv)), sys.stderr)
	}
	return report(run(ctx, sys, fs.Args()), sys.stderr)
}

// report prints err, if any, and returns its exit code.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ec *exitCode
	code := exitFailure
	if errors.As(err, &ec) {
		code = ec.code
	}
	if err.Error() != "" {
		fmt.Fprintln(stderr, "dbaas-proxy: "+strings.ReplaceAll(err.Error(), "\n", "\ndbaas-proxy: "))
	}
	return code
}

func usageErr(err error) error { return &exitCode{code: exitUsage, err: err} }

// flagSet returns the FlagSet of c, whose -h prints c's help.
func flagSet(c command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("dbaas-proxy "+c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { commandUsage(fs.Output(), c, fs) }
	return fs
}

// configFlags are the flags that choose the configuration.
type configFlags struct {
	path  *string
	flags []config.Flag
}

// addConfigFlags defines -config and a flag per key (log.level: -log-level) over file and env.
func addConfigFlags(fs *flag.FlagSet, keys ...[2]string) *configFlags {
	cf := &configFlags{}
	cf.path = fs.String("config", "", "the config `file` (YAML; optional: DBAAS_PROXY_* variables can do without it; see dbaas-proxy config example)")
	for _, k := range keys {
		name, usage := strings.ReplaceAll(strings.ReplaceAll(k[0], ".", "-"), "_", "-"), k[1]
		key := k[0]
		fs.Func(name, usage+" (the key "+key+", variable "+config.EnvName(key)+")", func(v string) error {
			cf.flags = append(cf.flags, config.Flag{Name: name, Key: key, Value: v})
			return nil
		})
	}
	return cf
}

// load resolves flags over the environment over -config over the defaults; problems exit 2.
func (cf *configFlags) load(sys system) (*config.Config, error) {
	var environ []string
	if sys.environ != nil {
		environ = sys.environ()
	}
	cfg, err := config.Resolve(config.Sources{File: *cf.path, Environ: environ, Flags: cf.flags})
	if err != nil {
		if *cf.path == "" {
			err = fmt.Errorf("%w\n(no -config FILE given: the configuration comes from DBAAS_PROXY_* variables and the defaults; see dbaas-proxy help)", err)
		}
		return nil, usageErr(err)
	}
	return cfg, nil
}
