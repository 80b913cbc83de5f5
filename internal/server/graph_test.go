package server

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPackageGraph: the project's imports are those the package docs allow (go list -deps),
// so that the docs stay true: each package's direct project imports are within its list, and
// config reaches neither proxy nor admin nor server, even through another package.
func TestPackageGraph(t *testing.T) {
	const mod = "github.com/dbaas-proxy/dbaas-proxy/"
	allowed := map[string][]string{ // direct project imports; a package not listed may import nothing of the project
		"proxy":              {"tokensource", "internal/upstream", "internal/jsonerr", "internal/netrule"},
		"internal/admin":     {"proxy", "tokensource", "internal/inbound", "internal/jsonerr", "internal/netrule"},
		"internal/config":    {"internal/inbound", "internal/upstream", "tokensource", "internal/netrule", "internal/configerr"},
		"internal/inbound":   {"internal/configerr", "internal/jsonerr", "internal/netrule"},
		"internal/emulator":  {"internal/jsonerr"},
		"internal/server":    {"internal/admin", "internal/config", "internal/inbound", "internal/sdnotify", "internal/upstream", "proxy", "tokensource"},
		"cmd/dbaas-proxy":    {"internal/admin", "internal/config", "internal/configerr", "internal/emulator", "internal/inbound", "internal/memlimit", "internal/netrule", "internal/server", "internal/upstream", "tokensource"},
		"cmd/dbaas-emulator": {"internal/emulator"},
	}
	leaves := []string{"internal/files", "internal/cause"} // their docs: every package may import them; they import none
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain here to list the packages (a Windows test binary under wine)")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}", mod+"cmd/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		if !strings.HasPrefix(pkg, mod) {
			continue
		}
		pkg = strings.TrimPrefix(pkg, mod)
		for _, imp := range strings.Fields(imports) {
			if dep, ok := strings.CutPrefix(imp, mod); ok {
				deps[pkg] = append(deps[pkg], dep)
				if !slices.Contains(leaves, dep) && !slices.Contains(allowed[pkg], dep) || slices.Contains(leaves, pkg) {
					t.Errorf("%s imports %s, which its package doc does not allow", pkg, dep)
				}
			}
		}
	}
	var reach func(pkg string, seen map[string]bool)
	reach = func(pkg string, seen map[string]bool) {
		for _, d := range deps[pkg] {
			if !seen[d] {
				seen[d] = true
				reach(d, seen)
			}
		}
	}
	seen := map[string]bool{}
	reach("internal/config", seen)
	for _, never := range []string{"proxy", "internal/admin", "internal/server"} {
		if seen[never] {
			t.Errorf("internal/config depends on %s", never)
		}
	}
	if len(deps["internal/server"]) == 0 {
		t.Error("go list listed no imports of internal/server: the test looks at nothing")
	}
}
