package files

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dbaas-proxy/dbaas-proxy/internal/testkit"
)

func TestReadRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := testkit.TempDir(t)
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok.pem")
	if err := os.WriteFile(ok, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{dir, "is a directory, not a regular file; point upstream.ca_file at the file itself"},
		{big, "is larger than 1 MiB, the cap for this file"},
		{filepath.Join(dir, "missing"), "cannot read"},
	}
	if runtime.GOOS != "windows" {
		cases = append(cases, struct{ path, want string }{fifo(t, dir), "is a FIFO (named pipe), not a regular file"})
	}
	for _, c := range cases {
		_, err := Read("upstream.ca_file", c.path, MaxConfig)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "upstream.ca_file: ") || !strings.Contains(err.Error(), c.path) {
			t.Errorf("Read(%s) = %v, want %q", c.path, err, c.want)
		}
	}
	key := "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd"
	if _, err := Read("auth.api_key_file", filepath.Join(dir, key), 100); err == nil || strings.Contains(err.Error(), key) {
		t.Errorf("a key given as the path is echoed: %v", err)
	}
	if data, err := Read("upstream.ca_file", ok, MaxConfig); err != nil || string(data) != "hello" {
		t.Errorf("Read(ok) = %q, %v", data, err)
	}
}

// fifo makes a FIFO that nobody writes to: opening it for reading without O_NONBLOCK blocks.
func fifo(t *testing.T, dir string) string {
	p := filepath.Join(dir, "fifo")
	if err := mkfifo(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenAppendRefusesSymlinks(t *testing.T) {
	dir := testkit.TempDir(t)
	target := filepath.Join(dir, "bashrc")
	if err := os.WriteFile(target, []byte("# rc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "proxy.log")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("cannot make a symbolic link here: %v", err)
	}
	testkit.SkipUnderWine(t, "os.Lstat calls the link that os.Symlink made a regular file")
	if f, err := OpenAppend("log.file", link); err == nil {
		f.Close()
		t.Fatal("OpenAppend followed a symbolic link")
	} else if !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("error %q does not say symbolic link", err)
	}
	f, err := OpenAppend("log.file", filepath.Join(dir, "real.log"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
