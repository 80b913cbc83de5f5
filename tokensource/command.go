package tokensource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

const (
	// CommandTimeout bounds one run of a token command (auth.token_command).
	CommandTimeout = 30 * time.Second
	// maxCommandOutput bounds what RunCommand keeps of a command's standard output.
	maxCommandOutput = 64 << 10
)

// Command is a Source that runs a program (auth.token_command, no shell) at every exchange and
// takes the token from its standard output: a bare token, "Bearer <token>", or JSON with
// access_token, iam_token or token (each may carry "Bearer ") and optionally expiration (Unix
// seconds) or expires_in. The token expires at the earlier of its JWT exp and what the JSON
// says, else after DefaultLifetime. It is safe for concurrent use; wrap it in a Cached.
type Command struct {
	argv []string
	opts IAMOptions
}

// NewCommand returns a Command running argv. Of opts it uses AccountID, DefaultLifetime, Now
// and Logger.
func NewCommand(argv []string, opts IAMOptions) *Command {
	return &Command{argv: argv, opts: withDefaults(opts)}
}

// Token runs the command once, within CommandTimeout.
func (c *Command) Token(ctx context.Context) (Token, error) {
	out, err := RunCommand(ctx, c.argv, CommandTimeout)
	if err != nil {
		return Token{}, &ExchangeError{Endpoint: "the token command " + filepath.Base(c.argv[0]), Err: err}
	}
	out = bytes.TrimSpace(out)
	access, expiry := trimBearer(string(out)), time.Time{}
	if len(out) > 0 && out[0] == '{' {
		if access, expiry, err = decodeAnswer(out, c.opts.Now()); err != nil {
			return Token{}, fmt.Errorf("tokensource: the output of the token command %s: %w", filepath.Base(c.argv[0]), err)
		}
	}
	if access == "" {
		return Token{}, fmt.Errorf("tokensource: the token command %s printed nothing on stdout", filepath.Base(c.argv[0]))
	}
	return newToken(access, expiry, &c.opts)
}

// RunCommand runs argv (no shell) within timeout and returns its standard output. What the command writes to stderr is never shown, as it may hold secrets:
// a failure says the command's name, its exit status and how many bytes it wrote there. A
// child that keeps the pipes open after the command exits is cut off a second later. argv[0]
// must not be empty.
func RunCommand(ctx context.Context, argv []string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	stdout, stderr := &capWriter{max: maxCommandOutput}, &capWriter{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	name := filepath.Base(argv[0])
	err := cmd.Run()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("%s did not finish within %s (it wrote %d bytes to stderr, not shown)", name, timeout, stderr.n)
	case err != nil:
		return nil, fmt.Errorf("%s failed: %v (it wrote %d bytes to stderr, not shown as they may hold secrets)", name, err, stderr.n)
	case stdout.n > maxCommandOutput:
		return nil, fmt.Errorf("%s printed more than 64 KiB on stdout", name)
	}
	return stdout.buf.Bytes(), nil
}

// capWriter counts what is written to it and keeps the first max bytes.
type capWriter struct {
	max, n int
	buf    bytes.Buffer
}

func (c *capWriter) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	c.n += len(p)
	return len(p), nil
}
