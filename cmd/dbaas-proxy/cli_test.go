package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

// cliSpecialVars are the variables dbaas-proxy reads besides the DBAAS_PROXY_ keys.
var cliSpecialVars = map[string]bool{server.APIKeyEnv: true, server.IBMCloudAPIKeyEnv: true, "GOMEMLIMIT": true}

var cliVarRE = regexp.MustCompile(`\b(DBAAS_[A-Z0-9_]+|IBMCLOUD_API_KEY|GOMEMLIMIT)\b`)

// cliCheckVars fails for each variable named in text that dbaas-proxy does not read.
func cliCheckVars(t *testing.T, what, text string) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[k.Env] = true
	}
	named := map[string]bool{}
	for _, m := range cliVarRE.FindAllString(text, -1) {
		named[m] = true
		if !known[m] && !cliSpecialVars[m] && m != "DBAAS_PROXY_" {
			t.Errorf("%s names %s, which dbaas-proxy does not read", what, m)
		}
	}
	return named
}

// TestHelp: --help, -h and help print the same overview, listing every command with a line,
// the variables, the precedence, the signals and the exit codes; every variable it names
// exists.
func TestHelp(t *testing.T) {
	code, help, _ := runBin(t, nil, "", "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, args := range [][]string{{"-h"}, {"help"}} {
		if c, out, _ := runBin(t, nil, "", args...); c != 0 || out != help {
			t.Errorf("%v: exit %d, output differs from --help:\n%s", args, c, out)
		}
	}
	for _, c := range commands() {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c.name) + ` +\S`).MatchString(help) {
			t.Errorf("--help does not list %s with a line", c.name)
		}
	}
	mustContainAll(t, help, "DBAAS_API_KEY", "IBMCLOUD_API_KEY", "DBAAS_PROXY_<KEY>", "GOMEMLIMIT",
		"flags > environment > config file > defaults", "upper case", "with . turned into _",
		"SIGHUP", "SIGTERM", "128+N", "Exit codes:", "\n  2 ", "auth.api_key_command")
	cliCheckVars(t, "--help", help)

	code, _, stderr := runBin(t, nil, "", "help", "nope")
	if code != exitUsage || !strings.Contains(stderr, `no such command`) || strings.Contains(stderr, "nope") {
		t.Errorf("help nope: exit %d, %q", code, stderr)
	}
	code, _, stderr = runBin(t, nil, "", "frobnicate")
	if code != exitUsage || !strings.Contains(stderr, `unknown command (argument 1, 10 characters)`) || strings.Contains(stderr, "frobnicate") {
		t.Errorf("frobnicate: exit %d, %q", code, stderr)
	}
	code, _, stderr = runBin(t, nil, "", "docter")
	if code != exitUsage || !strings.Contains(stderr, `did you mean doctor?`) {
		t.Errorf("docter: exit %d, %q", code, stderr)
	}
}

// TestCommandHelp: help CMD (stdout) and CMD -h (stderr) show the command's flags, what it
// does and an example.
func TestCommandHelp(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, out, _ := runBin(t, nil, "", "help", c.name)
			if code != 0 {
				t.Fatalf("help %s: exit %d", c.name, code)
			}
			mustContainAll(t, out, "Usage: dbaas-proxy "+c.name, c.details[:20], "Example:\n  "+c.example[:10])
			fs := flagSet(c, nil)
			c.setup(fs)
			fs.VisitAll(func(f *flag.Flag) { mustContainAll(t, out, "\n  -"+f.Name) })
			code, _, stderr := runBin(t, nil, "", c.name, "-h")
			if code != 0 || stderr != out {
				t.Errorf("%s -h: exit %d, output differs from help %s:\n%s", c.name, code, c.name, stderr)
			}
		})
	}
}

// TestHelpAndReadmeAgree: README's "Operating it" names every command and only variables
// that exist, and config keys lists every key's variable.
func TestHelpAndReadmeAgree(t *testing.T) {
	readme := mustRead(t, "../../README.md")
	start := strings.Index(readme, "## Operating it")
	end := strings.Index(readme[start+1:], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("README.md has no Operating it section")
	}
	section := readme[start : start+1+end]
	for _, c := range commands() {
		if !strings.Contains(section, "`dbaas-proxy "+c.name) && !strings.Contains(section, "`dbaas-proxy ["+c.name) {
			t.Errorf("README's Operating it does not show dbaas-proxy %s", c.name)
		}
	}
	_, help, _ := runBin(t, nil, "", "help")
	inReadme, inHelp := cliCheckVars(t, "README", section), cliCheckVars(t, "--help", help)
	for v := range inHelp {
		if !inReadme[v] && v != "DBAAS_PROXY_" {
			t.Errorf("--help names %s, README's Operating it does not", v)
		}
	}
	code, keys, _ := runBin(t, nil, "", "config", "keys")
	if code != 0 {
		t.Fatalf("config keys: exit %d", code)
	}
	for _, k := range config.Keys() {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(k.Name) + ` +` + k.Env + ` `).MatchString(keys) {
			t.Errorf("config keys does not list %s with %s", k.Name, k.Env)
		}
	}
}

// TestVersion: --version and version print the same; unstamped, a build of a git checkout
// shows the revision, with -dirty when the tree was modified.
func TestVersion(t *testing.T) {
	code, v1, _ := runBin(t, nil, "", "--version")
	_, v2, _ := runBin(t, nil, "", "version")
	if code != 0 || v1 != v2 || !strings.HasPrefix(v1, "dbaas-proxy ") {
		t.Errorf("--version %q (exit %d), version %q", v1, code, v2)
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git: cannot build from a checkout")
	}
	// The worktree's .git is a file, which the go command does not take for a repository:
	// build a clone, with the worktree's changes copied over (so that this code is what is
	// built) and an untracked file, so that it is dirty.
	dir := filepath.Join(testkit.TempDir(t), "src")
	if out, err := exec.Command(git, "clone", "-q", "--no-hardlinks", "../..", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot clone this checkout: %v %s", err, out)
	}
	rev, err := exec.Command(git, "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	changed, err := exec.Command(git, "-C", "../..", "ls-files", "-m", "-o", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(changed)) {
		if b, err := os.ReadFile(filepath.Join("../..", f)); err == nil {
			_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o700)
			testkit.WriteFile(t, dir, f, string(b))
		}
	}
	testkit.WriteFile(t, dir, "untracked", "x")
	bin := filepath.Join(testkit.TempDir(t), "dbaas-proxy")
	if err := goBuild(filepath.Join(dir, "cmd", "dbaas-proxy"), bin, "-buildvcs=auto"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--version").Output()
	if want := "dbaas-proxy " + string(rev[:12]) + "-dirty ("; err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("--version of a dirty checkout = %q, %v; want %q...", out, err, want)
	}
}

func TestResolveVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "3c84abf92622aaaabbbbccccddddeeeeffff0000"
	tests := []struct {
		name, stamped string
		info          *debug.BuildInfo
		want          string
	}{
		{"stamped wins", "v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}}, "v1.2.3"},
		{"go install @version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"a clean checkout", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202035047-3c84abf92622"}, Settings: vcs(rev, "false")}, "3c84abf92622"},
		{"a modified checkout", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202035047-3c84abf92622+dirty"}, Settings: vcs(rev, "true")}, "3c84abf92622-dirty"},
		{"a checkout at a tag", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.5.0"}, Settings: vcs(rev, "false")}, "v1.5.0"},
		{"no VCS", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"no build info", "", nil, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolveVersion(tt.stamped, tt.info); got != tt.want {
				t.Errorf("resolveVersion = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCompletion: each shell's script asks dbaas-proxy __complete; bash's parses, and completes
// commands, flags and file names for -config.
func TestCompletion(t *testing.T) {
	scripts := map[string]string{}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, stderr := runBin(t, nil, "", "completion", sh)
		if code != 0 {
			t.Fatalf("completion %s: exit %d %s", sh, code, stderr)
		}
		if !strings.Contains(out, "dbaas-proxy __complete") {
			t.Errorf("completion %s does not ask dbaas-proxy __complete", sh)
		}
		scripts[sh] = out
	}
	if code, _, _ := runBin(t, nil, "", "completion", "tcsh"); code != exitUsage {
		t.Errorf("completion tcsh: exit %d, want 2", code)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := testkit.TempDir(t)
	script := testkit.WriteFile(t, dir, "dbaas-proxy.bash", scripts["bash"])
	if out, err := exec.Command(bash, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v %s", err, out)
	}
	testkit.WriteFile(t, dir, "conf.yaml", "")
	tests := []struct {
		words string // the command line, the last word being completed
		want  []string
	}{
		{"dbaas-proxy val", []string{"validate"}},
		{"dbaas-proxy c", []string{"completion", "config"}},
		{"dbaas-proxy doctor -c", []string{"-config"}},
		{"dbaas-proxy -l", []string{"-listen", "-log-level"}},
		{"dbaas-proxy run -config con", []string{"conf.yaml"}},
		{"dbaas-proxy completion f", []string{"fish"}},
		{"dbaas-proxy help to", []string{"token"}},
		{"dbaas-proxy validate -strict -admin", []string{"-admin-listen"}},
		{"dbaas-proxy wait -timeout ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.words, func(t *testing.T) {
			prog := `source "$1"; COMP_WORDS=(` + tt.words + `); [[ "` + tt.words + `" == *" " ]] && COMP_WORDS+=(""); ` +
				`COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _dbaas_proxy; printf '%s\n' "${COMPREPLY[@]}"`
			cmd := exec.Command(bash, "-c", prog, "bash", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
			out, err := cmd.Output()
			got := strings.Fields(string(out))
			sort.Strings(got)
			if err != nil || strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("completions %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestConfigExample: config example prints the root config.example.yaml, byte for byte.
func TestConfigExample(t *testing.T) {
	code, out, _ := runBin(t, nil, "", "config", "example")
	if code != 0 || out != mustRead(t, "../../config.example.yaml") {
		t.Errorf("config example: exit %d, output differs from config.example.yaml", code)
	}
	if code, _, stderr := runBin(t, nil, "", "config"); code != exitUsage || !strings.Contains(stderr, "example") {
		t.Errorf("config: exit %d %q", code, stderr)
	}
	// What it prints is a working start: with the two required keys, it validates.
	dir := testkit.TempDir(t)
	testkit.WriteFile(t, dir, "ca.pem", "")
	s := strings.Replace(out, `  url: ""`, `  url: https://127.0.0.1:1`, 1)
	s = strings.Replace(s, `  ca_file: ""`, `  ca_file: ca.pem`, 1)
	p := testkit.WriteFile(t, dir, "c.yaml", s)
	if code, _, stderr := runBin(t, nil, "", "validate", "-config", p); code != exitUsage || !strings.Contains(stderr, filepath.Join(dir, "ca.pem")+" holds no PEM certificate") {
		t.Errorf("validate of the example: exit %d %q (want the relative ca_file resolved next to the file)", code, stderr)
	}
}
