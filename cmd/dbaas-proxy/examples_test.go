package main

// Tests that the shipped deployment examples (examples/systemd, examples/kubernetes,
// examples/launchd, examples/docker with the Dockerfile and .dockerignore, docs/windows.md)
// stay in step with the program: the subcommands and flags they name exist, the configuration
// they carry decodes strictly and validates, and probes, ports and mounts agree with it.

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/netrule"
	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

const examplesDir = "../../examples"

// exampleFlags returns the flags of command name, read from its own -h usage text.
func exampleFlags(t *testing.T, name string) map[string]bool {
	t.Helper()
	var stderr testkit.SyncBuffer
	sys := system{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
		getenv:  func(string) string { return "" },
		signals: func() (<-chan os.Signal, func()) { return nil, func() {} },
		exit:    func(c int) { t.Errorf("exit(%d) called", c) },
	}
	if code := runMain(context.Background(), []string{name, "-h"}, sys); code != exitOK {
		t.Fatalf("dbaas-proxy %s -h = %d: %s", name, code, stderr.String())
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(stderr.String(), -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("no flags in the usage of %s:\n%s", name, stderr.String())
	}
	return flags
}

// exampleCheckArgv checks a command line of dbaas-proxy (argv[0] the binary): the subcommand
// exists and every flag is one of its flags. It returns the subcommand and the flag values.
func exampleCheckArgv(t *testing.T, argv []string) (string, map[string]string) {
	t.Helper()
	if len(argv) == 0 || path.Base(argv[0]) != "dbaas-proxy" {
		t.Fatalf("command line %q does not run dbaas-proxy", argv)
	}
	name, args := "run", argv[1:]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	known := false
	for _, c := range commands() {
		known = known || c.name == name
	}
	if !known {
		t.Fatalf("command line %q: no command %q", argv, name)
	}
	flags, values := exampleFlags(t, name), map[string]string{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			t.Errorf("command line %q: stray argument %q", argv, arg)
			continue
		}
		f, v, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			v, i = args[i+1], i+1
		}
		if !flags[f] {
			t.Errorf("command line %q: %q is not a flag of %s", argv, arg, name)
			continue
		}
		values[f] = v
	}
	return name, values
}

// exampleUnit parses a systemd unit: section -> key -> values (keys may repeat).
func exampleUnit(t *testing.T, file string) map[string]map[string][]string {
	t.Helper()
	unit := map[string]map[string][]string{}
	var section map[string][]string
	for i, line := range strings.Split(mustRead(t, file), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = map[string][]string{}
			unit[line[1:len(line)-1]] = section
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == nil || k == "" || strings.ContainsAny(k, " \t") || strings.HasSuffix(v, `\`) {
				t.Fatalf("%s:%d: %q is not Key=Value inside a section", file, i+1, line)
			}
			section[k] = append(section[k], v)
		}
	}
	return unit
}

func TestSystemdExample(t *testing.T) {
	file := filepath.Join(examplesDir, "systemd", "dbaas-proxy.service")
	unit := exampleUnit(t, file)
	for _, s := range []string{"Unit", "Service", "Install"} {
		if unit[s] == nil {
			t.Errorf("no [%s] section", s)
		}
	}
	svc := unit["Service"]
	one := func(key string) string {
		if len(svc[key]) != 1 {
			t.Fatalf("[Service] %s = %q, want one value", key, svc[key])
		}
		return svc[key][0]
	}
	if got := one("Type"); got != "notify" {
		t.Errorf("Type=%s, want notify (dbaas-proxy sends READY=1)", got)
	}
	name, flags := exampleCheckArgv(t, strings.Fields(strings.TrimLeft(one("ExecStart"), "-@+!:")))
	if name != "run" || !path.IsAbs(flags["config"]) { // a Linux path, on every OS
		t.Errorf("ExecStart runs %q with -config %q, want the server with an absolute config path", name, flags["config"])
	}
	if reload := one("ExecReload"); !strings.Contains(reload, "-HUP") || !strings.Contains(reload, "$MAINPID") {
		t.Errorf("ExecReload=%s, want a SIGHUP to $MAINPID", reload)
	}
	stop, err := strconv.Atoi(one("TimeoutStopSec"))
	if err != nil || time.Duration(stop)*time.Second <= config.Defaults().ShutdownTimeout {
		t.Errorf("TimeoutStopSec=%s, want more than the default shutdown_timeout %s", one("TimeoutStopSec"), config.Defaults().ShutdownTimeout)
	}
	cred, _, _ := strings.Cut(one("LoadCredential"), ":")
	// LoadCredential copies the key once, at start: the unit must say that rotating it takes a
	// restart, not a reload.
	mustContainAll(t, mustRead(t, file), "api_key_file: /run/credentials/dbaas-proxy.service/"+cred,
		"systemctl reload does not copy it again", "systemctl restart dbaas-proxy")
}

// exampleConfig resolves a configuration an example carries, strictly, its REPLACE_ME
// placeholders filled with token hashes, and validates it.
func exampleConfig(t *testing.T, file, raw string) *config.Config {
	t.Helper()
	n := 0
	filled := regexp.MustCompile(`REPLACE_ME`).ReplaceAllStringFunc(raw, func(string) string {
		n++
		return inbound.HashToken("example client token " + strconv.Itoa(n))
	})
	cfg, err := config.Resolve(config.Sources{File: testkit.WriteFile(t, testkit.TempDir(t), filepath.Base(file), filled)})
	if err != nil {
		t.Fatalf("the configuration of %s, placeholders filled, does not decode or validate: %v", file, err)
	}
	return cfg
}

// exampleObject is the part of a Kubernetes object the tests look at.
type exampleObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data               map[string]string  `yaml:"data"`
	StringData         map[string]string  `yaml:"stringData"`
	Resources          []string           `yaml:"resources"`
	SecretGenerator    []exampleGenerator `yaml:"secretGenerator"`
	ConfigMapGenerator []exampleGenerator `yaml:"configMapGenerator"`
	Spec               struct {
		Replicas     int `yaml:"replicas"`     // Deployment
		MinAvailable int `yaml:"minAvailable"` // PodDisruptionBudget
		Selector     struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int                `yaml:"terminationGracePeriodSeconds"`
				Containers                    []exampleContainer `yaml:"containers"`
				Volumes                       []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// exampleGenerator is a kustomize secretGenerator or configMapGenerator entry.
type exampleGenerator struct {
	Name    string   `yaml:"name"`
	Files   []string `yaml:"files"` // "key=path" or "path" (the key is the file's name)
	Options struct {
		DisableNameSuffixHash bool `yaml:"disableNameSuffixHash"`
	} `yaml:"options"`
}

type exampleContainer struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe exampleProbe `yaml:"readinessProbe"`
	LivenessProbe  exampleProbe `yaml:"livenessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type exampleProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a port name or number
	} `yaml:"httpGet"`
}

// port resolves a port name or number of the container.
func (c *exampleContainer) port(p string) int {
	for _, cp := range c.Ports {
		if cp.Name == p {
			return cp.ContainerPort
		}
	}
	n, _ := strconv.Atoi(p)
	return n
}

// exampleManifests decodes every document of examples/kubernetes/*.yaml, keyed by kind/name.
func exampleManifests(t *testing.T) map[string]*exampleObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Kubernetes examples (%v)", err)
	}
	objs := map[string]*exampleObject{}
	for _, f := range files {
		dec := yaml.NewDecoder(strings.NewReader(mustRead(t, f)))
		for n := 0; ; n++ {
			var o exampleObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || o.Kind == "" {
				t.Fatalf("%s document %d: %v (kind %q)", f, n+1, err, o.Kind)
			}
			objs[o.Kind+"/"+o.Metadata.Name] = &o
		}
	}
	return objs
}

func TestKubernetesExamples(t *testing.T) {
	objs := exampleManifests(t)
	kust := objs["Kustomization/"]
	if kust == nil {
		t.Fatal("no kustomization.yaml")
	}
	for _, r := range kust.Resources {
		if _, err := os.Stat(filepath.Join(examplesDir, "kubernetes", r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	for k, o := range objs {
		if o.Kind == "Secret" { // kubectl apply -k would overwrite the real key with it
			t.Errorf("%s is a committed Secret; generate it from a git-ignored file instead", k)
		}
	}
	cm, dep := objs["ConfigMap/dbaas-proxy-config"], objs["Deployment/dbaas-proxy"]
	if cm == nil || dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want ConfigMap dbaas-proxy-config and Deployment dbaas-proxy with one container; have %v", objs)
	}
	raw := cm.Data["config.yaml"]
	cfg := exampleConfig(t, "configmap.yaml", raw)
	c := &dep.Spec.Template.Spec.Containers[0]
	_, flags := exampleCheckArgv(t, append([]string{"dbaas-proxy"}, c.Args...))
	admin := examplePort(t, cfg.Admin.Listen)
	for _, p := range []struct {
		probe exampleProbe
		path  string
	}{{c.ReadinessProbe, "/readyz"}, {c.LivenessProbe, "/healthz"}} {
		if p.probe.HTTPGet.Path != p.path || c.port(p.probe.HTTPGet.Port) != admin {
			t.Errorf("probe GET %s on port %s, want %s on admin.listen's port %d",
				p.probe.HTTPGet.Path, p.probe.HTTPGet.Port, p.path, admin)
		}
	}
	if got := dep.Spec.Template.Metadata.Annotations["prometheus.io/port"]; got != strconv.Itoa(admin) {
		t.Errorf("prometheus.io/port %q, want admin port %d", got, admin)
	}
	if c.port("proxy") != examplePort(t, cfg.Listen) {
		t.Errorf("container port proxy %d, listen %s", c.port("proxy"), cfg.Listen)
	}
	// Keys read from the text, so that this part holds whatever the config types look like.
	var extra struct {
		ShutdownDelay time.Duration `yaml:"shutdown_delay"`
		Admin         struct {
			Clients []struct {
				Name        string `yaml:"name"`
				TokenSHA256 string `yaml:"token_sha256"`
			} `yaml:"clients"`
		} `yaml:"admin"`
	}
	if err := yaml.Unmarshal([]byte(raw), &extra); err != nil {
		t.Fatal(err)
	}
	if extra.ShutdownDelay <= 0 {
		t.Errorf("shutdown_delay %s, want a delay for the endpoints to drop the pod", extra.ShutdownDelay)
	}
	if grace := time.Duration(dep.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second; grace <= extra.ShutdownDelay+cfg.ShutdownTimeout {
		t.Errorf("terminationGracePeriodSeconds %s, want more than shutdown_delay %s + shutdown_timeout %s", grace, extra.ShutdownDelay, cfg.ShutdownTimeout)
	}
	if !netrule.IsLoopbackListen(cfg.Admin.Listen) && (len(extra.Admin.Clients) == 0 || extra.Admin.Clients[0].TokenSHA256 == "") {
		t.Errorf("admin.listen %s is not loopback, but no admin.clients guard the status page and /token/refresh", cfg.Admin.Listen)
	}
	keys := exampleKeys(t, objs)
	for _, f := range []string{flags["config"], cfg.Upstream.CAFile, cfg.Auth.APIKeyFile} {
		exampleMounted(t, keys, dep, c, f)
	}
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" { // the kubelet never updates a subPath mount: no CA or key rotation
			t.Errorf("volume mount %s uses subPath %s", m.Name, m.SubPath)
		}
	}
	for _, g := range kust.ConfigMapGenerator {
		if g.Name == "dbaas-proxy-ca" && !g.Options.DisableNameSuffixHash {
			t.Errorf("configMapGenerator %s: without disableNameSuffixHash a new CA renames the ConfigMap and restarts the pods", g.Name)
		}
	}
	examplePDB(t, objs, dep)
}

// examplePDB checks that a PodDisruptionBudget covers the Deployment's pods and leaves room
// to drain a node.
func examplePDB(t *testing.T, objs map[string]*exampleObject, dep *exampleObject) {
	t.Helper()
	pdb := objs["PodDisruptionBudget/dbaas-proxy"]
	if pdb == nil {
		t.Fatal("no PodDisruptionBudget dbaas-proxy")
	}
	for k, v := range pdb.Spec.Selector.MatchLabels {
		if dep.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("PodDisruptionBudget selects %s=%s, which the pods do not carry", k, v)
		}
	}
	if len(pdb.Spec.Selector.MatchLabels) == 0 || pdb.Spec.MinAvailable < 1 || pdb.Spec.MinAvailable >= dep.Spec.Replicas {
		t.Errorf("PodDisruptionBudget minAvailable %d selecting %v, want at least 1 and fewer than the %d replicas",
			pdb.Spec.MinAvailable, pdb.Spec.Selector.MatchLabels, dep.Spec.Replicas)
	}
}

// exampleKeys returns the keys of every ConfigMap and Secret, as "Kind/name" -> keys, from the
// manifests and from kustomization.yaml's generators, whose files must be git-ignored.
func exampleKeys(t *testing.T, objs map[string]*exampleObject) map[string]map[string]bool {
	t.Helper()
	keys := map[string]map[string]bool{}
	for k, o := range objs {
		keys[k] = map[string]bool{}
		for _, m := range []map[string]string{o.Data, o.StringData} {
			for key := range m {
				keys[k][key] = true
			}
		}
	}
	ignored := map[string]bool{}
	for _, l := range strings.Split(mustRead(t, "../../.gitignore"), "\n") {
		ignored[strings.TrimSpace(l)] = true
	}
	kust := objs["Kustomization/"]
	for kind, gens := range map[string][]exampleGenerator{"Secret": kust.SecretGenerator, "ConfigMap": kust.ConfigMapGenerator} {
		for _, g := range gens {
			k := kind + "/" + g.Name
			keys[k] = map[string]bool{}
			for _, f := range g.Files {
				key, file, ok := strings.Cut(f, "=")
				if !ok {
					key, file = path.Base(f), f
				}
				keys[k][key] = true
				if !ignored["/examples/kubernetes/"+file] {
					t.Errorf("%s reads %s, which .gitignore does not list as /examples/kubernetes/%s", k, file, file)
				}
			}
		}
	}
	return keys
}

func examplePort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("address %q has no port", addr)
	}
	return n
}

// exampleMounted checks that file is a key of the ConfigMap or Secret mounted at its directory.
func exampleMounted(t *testing.T, keys map[string]map[string]bool, dep *exampleObject, c *exampleContainer, file string) {
	t.Helper()
	dir, key := path.Split(file)
	for _, m := range c.VolumeMounts {
		if strings.TrimSuffix(m.MountPath, "/")+"/" != dir {
			continue
		}
		for _, v := range dep.Spec.Template.Spec.Volumes {
			var k string
			switch {
			case v.Name != m.Name:
				continue
			case v.ConfigMap != nil:
				k = "ConfigMap/" + v.ConfigMap.Name
			case v.Secret != nil:
				k = "Secret/" + v.Secret.SecretName
			}
			if !keys[k][key] {
				t.Errorf("%s: volume %s (%s) holds no key %s", file, v.Name, k, key)
			}
			return
		}
	}
	t.Errorf("%s: no volume is mounted at %s", file, dir)
}

// exampleDockerfile returns the Dockerfile's instructions, continuation lines joined.
func exampleDockerfile(t *testing.T) [][2]string {
	t.Helper()
	var out [][2]string
	var cur string
	for _, line := range strings.Split(mustRead(t, "../../Dockerfile"), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		cur += strings.TrimSpace(line)
		if strings.HasSuffix(cur, `\`) {
			cur = strings.TrimSuffix(cur, `\`) + " "
			continue
		}
		if instr, args, ok := strings.Cut(cur, " "); ok {
			out = append(out, [2]string{strings.ToUpper(instr), strings.TrimSpace(args)})
		}
		cur = ""
	}
	return out
}

// exampleExecForm decodes a JSON exec form such as ["a", "b"].
func exampleExecForm(t *testing.T, what, s string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil {
		t.Fatalf("%s %s is not the JSON exec form: %v", what, s, err)
	}
	return argv
}

func TestDockerfile(t *testing.T) {
	var entrypoint, cmd, health []string
	var user string
	copied, args, labels := map[string]bool{}, map[string]bool{}, ""
	var froms, runs []string
	for _, in := range exampleDockerfile(t) {
		switch in[0] {
		case "FROM":
			froms = append(froms, in[1])
		case "ARG":
			name, _, _ := strings.Cut(in[1], "=")
			args[name] = true
		case "RUN":
			runs = append(runs, in[1])
		case "LABEL":
			labels += in[1]
		case "ENTRYPOINT":
			entrypoint = exampleExecForm(t, in[0], in[1])
		case "CMD":
			cmd = exampleExecForm(t, in[0], in[1])
		case "HEALTHCHECK":
			_, form, ok := strings.Cut(in[1], " CMD ")
			if !ok {
				t.Fatalf("HEALTHCHECK %s has no CMD", in[1])
			}
			health = exampleExecForm(t, in[0], form)
		case "USER":
			user = in[1]
		case "COPY":
			f := strings.Fields(in[1])
			copied[f[len(f)-1]] = true
		}
	}
	if len(entrypoint) != 1 || !copied[entrypoint[0]] {
		t.Errorf("ENTRYPOINT %q, want the binary copied into the image alone", entrypoint)
	}
	name, flags := exampleCheckArgv(t, append(entrypoint, cmd...))
	if name != "run" || flags["config"] == "" {
		t.Errorf("ENTRYPOINT+CMD run %q with -config %q, want the server with a config", name, flags["config"])
	}
	hname, hflags := exampleCheckArgv(t, health)
	if hname != "healthcheck" || len(entrypoint) == 1 && health[0] != entrypoint[0] {
		t.Errorf("HEALTHCHECK runs %q, want the image's binary with healthcheck", health)
	}
	if hflags["config"] != "" { // a config mounted elsewhere (or none) would fail every check
		t.Errorf("HEALTHCHECK %q names a config file; probe the admin address instead", health)
	}
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 || gid == "0" {
		t.Errorf("USER %q, want a numeric non-root user", user)
	}
	exampleDockerBuild(t, froms, args, runs, labels)
	probe := hflags["addr"]
	if probe == "" {
		probe = config.Defaults().Admin.Listen
	}
	exampleDockerRun(t, flags["config"], uid, probe)
}

// exampleDockerBuild checks the build: fully qualified images (Podman and buildah refuse or
// guess short names), a build stage on the builder's platform cross-compiling for the target,
// and no license label the repository does not carry.
func exampleDockerBuild(t *testing.T, froms []string, args map[string]bool, runs []string, labels string) {
	t.Helper()
	for i, f := range froms {
		fields := strings.Fields(f)
		image := fields[0]
		if strings.HasPrefix(image, "--platform=") {
			image = fields[1]
		}
		if host, _, ok := strings.Cut(image, "/"); !ok || !strings.Contains(host, ".") {
			t.Errorf("FROM %s: want a fully qualified image name (registry host first)", image)
		}
		if i == 0 && !strings.HasPrefix(f, "--platform=$BUILDPLATFORM ") {
			t.Errorf("FROM %s: want the build stage on --platform=$BUILDPLATFORM", f)
		}
	}
	build := ""
	for _, r := range runs {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "-trimpath", "-X main.version="} {
		if !strings.Contains(build, want) {
			t.Errorf("RUN %s: want %s", build, want)
		}
	}
	if !args["TARGETOS"] || !args["TARGETARCH"] {
		t.Errorf("ARGs %v: want TARGETOS and TARGETARCH declared in the build stage", args)
	}
	if _, err := os.Stat("../../LICENSE"); err != nil && strings.Contains(labels, "licenses") {
		t.Errorf("LABEL names a license, but the repository has no LICENSE file")
	}
	mustContainAll(t, mustRead(t, "../../Dockerfile"), "--format docker")
}

// exampleDockerRun checks the Dockerfile's own docker run line: it mounts the config that CMD
// names from examples/docker/config.yaml, and the files that config names; the config
// validates, listens on the published port and puts the admin listener where the HEALTHCHECK
// probes it.
func exampleDockerRun(t *testing.T, configPath, uid, probe string) {
	t.Helper()
	var line string
	for _, l := range strings.Split(mustRead(t, "../../Dockerfile"), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(l, "#"))
		if strings.HasPrefix(l, "docker run") || line != "" && strings.HasSuffix(line, `\`) {
			line = strings.TrimSuffix(line, `\`) + " " + l
		}
	}
	mounts, published := map[string]string{}, ""
	fields := strings.Fields(strings.NewReplacer(`"`, "", "$PWD/", "").Replace(line))
	for i := 0; i+1 < len(fields); i++ {
		switch fields[i] {
		case "-v":
			p := strings.Split(fields[i+1], ":")
			mounts[p[1]] = p[0]
		case "-p":
			published = fields[i+1]
		}
	}
	src := mounts[configPath]
	if src != "examples/docker/config.yaml" {
		t.Fatalf("docker run %s: mounts %q at %s, want examples/docker/config.yaml", line, src, configPath)
	}
	cfg := exampleConfig(t, src, mustRead(t, "../../"+src))
	for _, f := range []string{cfg.Upstream.CAFile, cfg.Auth.APIKeyFile} {
		if mounts[f] == "" {
			t.Errorf("docker run %s: nothing mounted at %s", line, f)
		}
	}
	if p := strings.Split(published, ":"); len(p) != 3 || p[0] != "127.0.0.1" || p[2] != strconv.Itoa(examplePort(t, cfg.Listen)) {
		t.Errorf("docker run -p %s: want 127.0.0.1:PORT:%d (listen %s)", published, examplePort(t, cfg.Listen), cfg.Listen)
	}
	if probeAddr(cfg.Admin.Listen) != probe {
		t.Errorf("admin.listen %s, but the HEALTHCHECK probes %s", cfg.Admin.Listen, probe)
	}
	mustContainAll(t, mustRead(t, "../../Dockerfile"), "uid "+uid, "chown "+uid)
}

func TestDockerignore(t *testing.T) {
	var allow []string
	lines := strings.Split(mustRead(t, "../../.dockerignore"), "\n")
	for _, l := range lines {
		if p, ok := strings.CutPrefix(strings.TrimSpace(l), "!"); ok {
			allow = append(allow, p)
		}
	}
	if !slices.Contains(lines, "*") {
		t.Fatalf(".dockerignore does not start from * (an allowlist): a key or config beside the Dockerfile would be sent to the builder")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	root, _ := filepath.Abs("../..")
	for _, dir := range append(strings.Fields(string(out)), filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency, downloaded in the build stage
		}
		rel = filepath.ToSlash(rel)
		if !slices.ContainsFunc(allow, func(a string) bool { return rel == a || strings.HasPrefix(rel, a+"/") }) {
			t.Errorf("the binary needs %s, which .dockerignore keeps out of the build context", rel)
		}
	}
}

// examplePlist decodes a property list into Go values: dict as map[string]any, array as
// []any, string, integer as int, true and false as bool.
func examplePlist(t *testing.T, file string) map[string]any {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(mustRead(t, file)))
	var value func(xml.StartElement) any
	value = func(se xml.StartElement) any {
		switch se.Name.Local {
		case "dict", "array":
			m, a, key := map[string]any{}, []any{}, ""
			for {
				tok, err := dec.Token()
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				switch tok := tok.(type) {
				case xml.StartElement:
					if se.Name.Local == "dict" && tok.Name.Local == "key" {
						if err := dec.DecodeElement(&key, &tok); err != nil {
							t.Fatalf("%s: %v", file, err)
						}
						continue
					}
					if v := value(tok); se.Name.Local == "dict" {
						m[key] = v
					} else {
						a = append(a, v)
					}
				case xml.EndElement:
					if se.Name.Local == "dict" {
						return m
					}
					return a
				}
			}
		case "true", "false":
			if err := dec.Skip(); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			return se.Name.Local == "true"
		}
		var text string
		if err := dec.DecodeElement(&text, &se); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if se.Name.Local == "integer" {
			n, err := strconv.Atoi(text)
			if err != nil {
				t.Fatalf("%s: <integer>%s</integer>: %v", file, text, err)
			}
			return n
		}
		return text
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: no <plist><dict>: %v", file, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "dict" {
			return value(se).(map[string]any)
		}
	}
}

func TestLaunchdExample(t *testing.T) {
	dir := filepath.Join(examplesDir, "launchd")
	file := filepath.Join(dir, "com.github.dbaas-proxy.plist")
	plist := examplePlist(t, file)
	known := []string{"Label", "ProgramArguments", "RunAtLoad", "KeepAlive", "ThrottleInterval", "ExitTimeOut",
		"ProcessType", "StandardOutPath", "StandardErrorPath", "EnvironmentVariables", "WorkingDirectory"}
	for k := range plist {
		if !slices.Contains(known, k) {
			t.Errorf("%s: key %s is not one of the launchd.plist keys %v", file, k, known)
		}
	}
	label, _ := plist["Label"].(string)
	if label+".plist" != filepath.Base(file) {
		t.Errorf("Label %q, want the file's name %s without .plist", label, filepath.Base(file))
	}
	var argv []string
	for _, a := range plist["ProgramArguments"].([]any) {
		argv = append(argv, a.(string))
	}
	name, flags := exampleCheckArgv(t, argv)
	if name != "run" || !path.IsAbs(flags["config"]) || !path.IsAbs(argv[0]) {
		t.Errorf("ProgramArguments %q, want the server by absolute path with an absolute -config", argv)
	}
	if plist["RunAtLoad"] != true || plist["KeepAlive"] == nil {
		t.Errorf("RunAtLoad %v, KeepAlive %v: want it started at login and restarted", plist["RunAtLoad"], plist["KeepAlive"])
	}
	if p, _ := plist["StandardErrorPath"].(string); !path.IsAbs(p) {
		t.Errorf("StandardErrorPath %q: want an absolute path for the log", p)
	}
	if n, _ := plist["ExitTimeOut"].(int); time.Duration(n)*time.Second <= config.Defaults().ShutdownTimeout {
		t.Errorf("ExitTimeOut %d, want more than the default shutdown_timeout %s", n, config.Defaults().ShutdownTimeout)
	}
	cfg := exampleConfig(t, "config.yaml", mustRead(t, filepath.Join(dir, "config.yaml")))
	for _, f := range []string{cfg.Upstream.CAFile, cfg.Auth.APIKeyFile} {
		if path.Dir(f) != path.Dir(flags["config"]) {
			t.Errorf("config.yaml names %s, want it beside %s", f, flags["config"])
		}
	}
	if !netrule.IsLoopbackListen(cfg.Listen) {
		t.Errorf("listen %s: a workstation proxy listens on loopback", cfg.Listen)
	}
	mustContainAll(t, mustRead(t, file), "launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/"+filepath.Base(file),
		"launchctl kill HUP gui/$(id -u)/"+label, "launchctl bootout gui/$(id -u)/"+label)
}

func TestWindowsDoc(t *testing.T) {
	doc := mustRead(t, "../../docs/windows.md")
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) != 1 {
		t.Fatalf("docs/windows.md has %d YAML blocks, want the one configuration", len(blocks))
	}
	exampleConfig(t, "docs/windows.md", blocks[0][1]) // it decodes and validates
	// The paths as written: on this (non-Windows) machine C:\ paths look relative and the
	// loader would resolve them against the document's folder.
	var extra struct {
		Log struct {
			File string `yaml:"file"`
		} `yaml:"log"`
		Upstream struct {
			CAFile string `yaml:"ca_file"`
		} `yaml:"upstream"`
		Auth struct {
			APIKeyFile string `yaml:"api_key_file"`
		} `yaml:"auth"`
	}
	if err := yaml.Unmarshal([]byte(blocks[0][1]), &extra); err != nil || extra.Log.File == "" {
		t.Errorf("the configuration sets no log.file (%v): a service has no console", err)
	}
	const dataDir = `C:\ProgramData\dbaas-proxy\`
	for _, f := range []string{extra.Upstream.CAFile, extra.Auth.APIKeyFile, extra.Log.File} {
		if !strings.HasPrefix(f, dataDir) {
			t.Errorf("%s is not under %s", f, dataDir)
		}
	}
	// Every service command line runs the binary with flags it has.
	lines := regexp.MustCompile(`'"C:\\Program Files\\dbaas-proxy\\dbaas-proxy\.exe" ([^']*)'`).FindAllStringSubmatch(doc, -1)
	if len(lines) == 0 {
		t.Fatal("docs/windows.md has no quoted service command line")
	}
	for _, l := range lines {
		_, flags := exampleCheckArgv(t, append([]string{"dbaas-proxy"}, strings.Fields(l[1])...))
		if flags["config"] != dataDir+"config.yaml" {
			t.Errorf("service command line %q: -config %q, want %sconfig.yaml", l[0], flags["config"], dataDir)
		}
	}
	mustContainAll(t, doc, "icacls '"+extra.Auth.APIKeyFile+"' /inheritance:r")
}

// probeAddr turns a listen address into one to connect to: an unspecified host (0.0.0.0, ::
// or none) is reached on the loopback address.
func probeAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// TestKubernetesJobExample: the Job runs dbaas-proxy as a native sidecar that it waits for.
func TestKubernetesJobExample(t *testing.T) {
	var job struct {
		Kind string
		Spec struct {
			Template struct {
				Spec struct {
					InitContainers []struct {
						RestartPolicy string `yaml:"restartPolicy"`
						Args          []string
						StartupProbe  struct{ Exec struct{ Command []string } } `yaml:"startupProbe"`
					} `yaml:"initContainers"`
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(mustRead(t, filepath.Join(examplesDir, "kubernetes", "job", "job.yaml"))), &job); err != nil {
		t.Fatal(err)
	}
	ic := job.Spec.Template.Spec.InitContainers
	if job.Kind != "Job" || len(ic) != 1 || ic[0].RestartPolicy != "Always" {
		t.Fatalf("job.yaml: want a Job with one native sidecar, got %+v", job)
	}
	probe := ic[0].StartupProbe.Exec.Command
	code, _, errOut := runBin(t, nil, "", append(probe[1:], "-h")...)
	if code != 0 || !strings.Contains(strings.Join(probe, " "), "healthcheck -ready") {
		t.Errorf("startupProbe %q: exit %d %s", probe, code, errOut)
	}
	if code, _, errOut := runBin(t, nil, "", append(ic[0].Args, "-h")...); code != 0 {
		t.Errorf("args %q: exit %d %s", ic[0].Args, code, errOut)
	}
}
