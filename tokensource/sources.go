package tokensource

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	// commandTimeout bounds one run of a token command (auth.token_command).
	commandTimeout = 30 * time.Second
	// maxCommandOutput bounds what RunCommand keeps of a command's standard output.
	maxCommandOutput = 64 << 10
	// DefaultMetadataURL is the VPC instance metadata service's link-local base URL
	// (https://api.metadata.cloud.ibm.com with the secure protocol).
	DefaultMetadataURL = "http://169.254.169.254"
	// metadataVersion is the API version of the metadata service's two calls.
	metadataVersion = "2022-03-01"
)

// Command is a Source that runs a program (auth.token_command, no shell) at every exchange and
// takes the token from its output: a bare token, "Bearer <token>", or JSON as IAM answers.
// It is safe for concurrent use; wrap it in a Cached.
type Command struct {
	argv []string
	opts IAMOptions
}

// NewCommand returns a Command running argv (IAMOptions says what it uses of opts).
func NewCommand(argv []string, opts IAMOptions) *Command {
	return &Command{argv: argv, opts: withDefaults(opts)}
}

// Token runs the command once, within commandTimeout.
func (c *Command) Token(ctx context.Context) (Token, error) {
	out, err := RunCommand(ctx, c.argv, commandTimeout)
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

// RunCommand runs argv (no shell; argv[0] not empty) within timeout and returns its stdout. Its
// stderr, which may hold secrets, is never shown: a failure gives the name, exit status and how
// many bytes went there. A child holding the pipes open is cut off a second after the exit.
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

// VPC is a Source of IAM access tokens from an IBM Cloud VPC instance's metadata service: an
// identity token (PUT /instance_identity/v1/token), then its trusted profile's IAM token (POST
// /instance_identity/v1/iam_token). Safe for concurrent use; wrap it in a Cached.
type VPC struct {
	opts IAMOptions
}

// NewVPC returns a VPC source. opts.URL is the metadata service's base URL; its Client must
// not go through an outbound proxy (the service is link-local).
func NewVPC(opts IAMOptions) *VPC {
	opts.URL = cmp.Or(opts.URL, DefaultMetadataURL)
	return &VPC{opts: withDefaults(opts)}
}

// Token performs the two calls. A non-2xx answer is an *ExchangeError naming the metadata
// service; neither the identity token nor the access token appears in any error.
func (v *VPC) Token(ctx context.Context) (Token, error) {
	base := strings.TrimSuffix(v.opts.URL, "/") + "/instance_identity/v1/"
	body, err := v.call(ctx, http.MethodPut, base+"token", map[string]any{"expires_in": 300}, "")
	if err != nil {
		return Token{}, err
	}
	identity, _, err := decodeAnswer(body, v.opts.Now())
	if err != nil {
		return Token{}, fmt.Errorf("tokensource: the instance identity token: %w", err)
	}
	var profile map[string]any // nil: no body, the instance's default profile
	switch {
	case v.opts.ProfileCRN != "":
		profile = map[string]any{"trusted_profile": map[string]string{"crn": v.opts.ProfileCRN}}
	case v.opts.ProfileID != "":
		profile = map[string]any{"trusted_profile": map[string]string{"id": v.opts.ProfileID}}
	}
	if body, err = v.call(ctx, http.MethodPost, base+"iam_token", profile, identity); err != nil {
		return Token{}, err
	}
	access, expiry, err := decodeAnswer(body, v.opts.Now())
	if err != nil {
		return Token{}, err
	}
	return newToken(access, expiry, &v.opts)
}

// call sends one request to the metadata service, with the identity token when it is set.
func (v *VPC) call(ctx context.Context, method, url string, body map[string]any, identity string) ([]byte, error) {
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body) // maps of strings and numbers always encode
	}
	req, err := http.NewRequestWithContext(ctx, method, url+"?version="+metadataVersion, strings.NewReader(string(payload)))
	if err != nil {
		return nil, fmt.Errorf("tokensource: building the metadata service request: %w", err)
	}
	req.Header.Set("Metadata-Flavor", "ibm")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if identity != "" {
		req.Header.Set("Authorization", "Bearer "+identity)
	}
	return send(&v.opts, req, "the VPC metadata service", "the instance identity token", identity)
}
