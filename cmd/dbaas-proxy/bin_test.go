package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The tests in cli_test.go run the real binary, built once per test run.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// binary returns the path of dbaas-proxy built from this package, or the binary that the
// variable DBAAS_PROXY_TEST_BINARY names: .ci/windows builds the .exe on Linux and runs these
// tests under wine, where there is no go command.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binPath = os.Getenv("DBAAS_PROXY_TEST_BINARY"); binPath != "" {
			return
		}
		if binDir, binErr = os.MkdirTemp("", "dbaas-proxy-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "dbaas-proxy")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		binErr = goBuild(".", binPath, "")
	})
	if binErr != nil {
		t.Fatalf("building dbaas-proxy: %v", binErr)
	}
	return binPath
}

// goBuild builds the package in dir to out; goflags replaces GOFLAGS when not "".
func goBuild(dir, out, goflags string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if goflags != "" {
		cmd.Env = append(cmd.Env, "GOFLAGS="+goflags)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return errors.New(err.Error() + ": " + string(b))
	}
	return nil
}

func removeBinaries() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// baseEnv is the environment every run gets: enough to run, and nothing of the caller's
// DBAAS_* variables.
func baseEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	if runtime.GOOS == "windows" {
		env = append(env, "SYSTEMROOT="+os.Getenv("SYSTEMROOT"))
	}
	return env
}

// runBin runs the binary with env (over baseEnv) and stdin until it exits, within 60 s.
func runBin(t *testing.T, env []string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runBinIn(t, "", env, stdin, args...)
}

func runBinIn(t *testing.T, dir string, env []string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdin = bytes.NewReader([]byte(stdin))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running dbaas-proxy %q: %v", args, err)
	}
	return code, out.String(), errOut.String()
}
