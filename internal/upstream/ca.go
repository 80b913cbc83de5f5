package upstream

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
)

// ReadCA reads the CA file (PEM certificates), the upstream's only trust anchor; "" means the
// system roots, for generic routes only. Errors name upstream.ca_file and the path.
func ReadCA(path string) (*x509.CertPool, error) {
	if path == "" {
		return x509.SystemCertPool()
	}
	return ReadPEMPool("upstream.ca_file", path)
}

// ReadPEMPool reads a file of PEM certificates for the config key key (upstream.ca_file,
// auth.iam_ca_file); errors name the key and the path.
func ReadPEMPool(key, path string) (*x509.CertPool, error) {
	data, err := files.Read(key, path, files.MaxConfig)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: certificate %d cannot be parsed: %w", key, path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", key, path)
	}
	return pool, nil
}
