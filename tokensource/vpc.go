package tokensource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

const (
	// DefaultMetadataURL is the VPC instance metadata service's link-local base URL
	// (https://api.metadata.cloud.ibm.com with the secure protocol).
	DefaultMetadataURL = "http://169.254.169.254"
	// metadataVersion is the API version of the metadata service's two calls.
	metadataVersion = "2022-03-01"
	// endpointMetadata names the metadata service in errors.
	endpointMetadata = "the VPC metadata service"
)

// VPC is a Source that gets IAM access tokens from the instance metadata service of an IBM
// Cloud VPC virtual server: an instance identity token (PUT /instance_identity/v1/token), then
// the IAM token of the instance's trusted profile (POST /instance_identity/v1/iam_token). It
// reads no API key. It is safe for concurrent use; wrap it in a Cached.
type VPC struct {
	opts IAMOptions
}

// NewVPC returns a VPC source. opts.URL is the metadata service's base URL; its Client must
// not go through an outbound proxy (the service is link-local).
func NewVPC(opts IAMOptions) *VPC {
	if opts.URL == "" {
		opts.URL = DefaultMetadataURL
	}
	return &VPC{opts: withDefaults(opts)}
}

// Token performs the two calls. A non-2xx answer is an *ExchangeError naming the metadata
// service; neither the identity token nor the access token appears in any error.
func (v *VPC) Token(ctx context.Context) (Token, error) {
	if v.opts.Client == nil {
		return Token{}, errors.New("tokensource: the metadata service exchange needs a Client")
	}
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
	return send(&v.opts, req, endpointMetadata, "the instance identity token", identity)
}
