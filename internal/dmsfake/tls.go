package dmsfake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"time"
)

// testCALifetime bounds the test CA and the certificate it issues: long
// enough for any test run, short enough that a leaked one is soon worthless.
const testCALifetime = 12 * time.Hour

// serverTLS is what a client needs to reach a loopback server under a
// throw-away CA as if it were the real host.
type serverTLS struct {
	config *tls.Config    // the server's certificate
	roots  *x509.CertPool // trusts the CA
	spki   string         // base64 SHA-256 of the leaf's public key
}

// newServerTLS makes a fresh CA and a certificate it signs for hosts
// (wildcards allowed). Nothing is written to disk or to the system trust.
func newServerTLS(hosts []string, now time.Time) (*serverTLS, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dmsfake: CA key: %w", err)
	}
	notBefore, notAfter := now.Add(-time.Minute), now.Add(testCALifetime)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "dmsfake test CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("dmsfake: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("dmsfake: CA certificate: %w", err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dmsfake: server key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("dmsfake: server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, fmt.Errorf("dmsfake: server certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return &serverTLS{
		config: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey, Leaf: leaf}},
			MinVersion:   tls.VersionTLS12,
		},
		roots: roots,
		spki:  base64.StdEncoding.EncodeToString(spki[:]),
	}, nil
}

func serial() *big.Int {
	return new(big.Int).SetBytes(randomBytes(16))
}
