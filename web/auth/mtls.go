package auth

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// TypeMTLS authenticates by the client certificate of the TLS handshake.
const TypeMTLS = "mtls"

// MTLSConfig is client-certificate authentication: the certificate must
// chain to a CA of CAFile and name an allowed subject (its full subject
// such as "CN=alertmanager,O=Example", or its common name) or DNS SAN. It
// is the whole of type mtls, or, as the mtls: key of another type, a
// second check that must pass too.
type MTLSConfig struct {
	// CAFile is a PEM bundle of the CAs client certificates must chain to.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// AllowSubjects are subjects or common names accepted.
	AllowSubjects []string `yaml:"allow_subjects" json:"allow_subjects,omitempty"`
	// AllowDNSSANs are DNS subject alternative names accepted.
	AllowDNSSANs []string `yaml:"allow_dns_sans" json:"allow_dns_sans,omitempty"`
}

// ClientCertSource is implemented by the Authenticators that check a
// client certificate: the listener must request one and trust these CAs,
// and Sender names the verified certificate's subject (the audit actor).
type ClientCertSource interface {
	ClientCAs() []*x509.Certificate
	Sender(r *http.Request) string
}

type mtlsCheck struct {
	cas      []*x509.Certificate
	roots    *x509.CertPool
	subjects map[string]bool
	sans     map[string]bool
}

// newMTLS reads the CA bundle and checks the lists; key prefixes the
// problems ("" for type mtls, "mtls." under another type).
func newMTLS(c MTLSConfig, key string) (*mtlsCheck, []error) {
	var errs []error
	m := &mtlsCheck{roots: x509.NewCertPool(), subjects: map[string]bool{}, sans: map[string]bool{}}
	if strings.TrimSpace(c.CAFile) == "" {
		errs = append(errs, fmt.Errorf("%sca_file: required (the CA bundle client certificates must chain to)", key))
	} else if pemData, err := os.ReadFile(c.CAFile); err != nil {
		errs = append(errs, fmt.Errorf("%sca_file: %w", key, err))
	} else {
		for rest := pemData; len(rest) > 0; {
			var cert *x509.Certificate
			cert, rest = nextCert(rest)
			if cert == nil {
				break
			}
			m.cas = append(m.cas, cert)
			m.roots.AddCert(cert)
		}
		if len(m.cas) == 0 {
			errs = append(errs, fmt.Errorf("%sca_file: %s holds no PEM certificate", key, c.CAFile))
		}
	}
	for _, s := range c.AllowSubjects {
		m.subjects[strings.TrimSpace(s)] = true
	}
	for _, s := range c.AllowDNSSANs {
		m.sans[strings.ToLower(strings.TrimSpace(s))] = true
	}
	if len(m.subjects) == 0 && len(m.sans) == 0 {
		errs = append(errs, fmt.Errorf("%sallow_subjects: give allow_subjects or allow_dns_sans (every certificate of the CA would pass otherwise)", key))
	}
	return m, errs
}

// check accepts r when its TLS handshake carried a client certificate that
// chains to the CAs and names an allowed subject or DNS SAN.
func (m *mtlsCheck) check(r *http.Request) error {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no client certificate", ErrMissingCredentials)
	}
	certs := r.TLS.PeerCertificates
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("%w: the client certificate does not chain to ca_file", ErrBadCredentials)
	}
	if m.subjects[leaf.Subject.String()] || (leaf.Subject.CommonName != "" && m.subjects[leaf.Subject.CommonName]) {
		return nil
	}
	for _, san := range leaf.DNSNames {
		if m.sans[strings.ToLower(san)] {
			return nil
		}
	}
	return fmt.Errorf("%w: client certificate %q names no allowed subject or DNS SAN", ErrBadCredentials, truncate(leaf.Subject.String(), 128))
}

// ClientCAs implements ClientCertSource; nil without a certificate check.
func (a *authenticator) ClientCAs() []*x509.Certificate {
	if a.mtls == nil {
		return nil
	}
	return a.mtls.cas
}

// Sender implements ClientCertSource: the subject of r's client
// certificate once Authenticate accepted r; "" without a certificate check.
func (a *authenticator) Sender(r *http.Request) string {
	if a.mtls == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.String()
}

func nextCert(data []byte) (*x509.Certificate, []byte) {
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			return nil, nil
		}
		data = rest
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			return c, rest
		}
	}
}
