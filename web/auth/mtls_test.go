package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/web/tlstest"
)

// TestMTLSCheck drives the client-certificate check with the handshake's
// verified chain as net/http would hand it over: only a certificate of the
// source's own CA naming an allowed subject, common name or DNS SAN is
// accepted, and Sender names its subject.
func TestMTLSCheck(t *testing.T) {
	ca, other := tlstest.NewCA(t, "source CA"), tlstest.NewCA(t, "other CA")
	caFile := tlstest.Write(t, t.TempDir(), "ca.pem", ca.PEM)
	a, err := New(Config{Type: TypeMTLS, CAFile: caFile, AllowSubjects: []string{"CN=am,O=Firebreak tests", "grafana"}, AllowDNSSANs: []string{"AM.example"}})
	if err != nil {
		t.Fatal(err)
	}
	req := func(leaf *tlstest.Leaf) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hooks/alertmanager", nil)
		r.TLS = &tls.ConnectionState{}
		if leaf != nil {
			r.TLS.PeerCertificates = []*x509.Certificate{leaf.Cert}
		}
		return r
	}
	for _, tc := range []struct {
		name string
		leaf tlstest.Leaf
		want error
	}{
		{"full subject", ca.Client(t, "am"), nil},
		{"common name", ca.Client(t, "grafana"), nil},
		{"DNS SAN, any case", ca.Client(t, "x", "am.example"), nil},
		{"not listed", ca.Client(t, "falco"), ErrBadCredentials},
		{"another CA, allowed name", other.Client(t, "am"), ErrBadCredentials},
		{"a server certificate", ca.Server(t, "grafana"), ErrBadCredentials},
	} {
		r := req(&tc.leaf)
		err := a.Authenticate(r, nil, time.Now())
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if err == nil && a.(ClientCertSource).Sender(r) != tc.leaf.Cert.Subject.String() {
			t.Errorf("%s: sender %q", tc.name, a.(ClientCertSource).Sender(r))
		}
	}
	if err := a.Authenticate(req(nil), nil, time.Now()); !errors.Is(err, ErrMissingCredentials) {
		t.Errorf("no certificate: %v", err)
	}
	if err := a.Authenticate(httptest.NewRequest(http.MethodPost, "/", nil), nil, time.Now()); !errors.Is(err, ErrMissingCredentials) {
		t.Errorf("plain HTTP: %v", err)
	}
	if cas := a.(ClientCertSource).ClientCAs(); len(cas) != 1 || !cas[0].Equal(ca.Cert) {
		t.Errorf("ClientCAs = %v", cas)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Type: TypeMTLS, AllowSubjects: []string{"a"}}, "ca_file: required"},
		{Config{Type: TypeMTLS, CAFile: caFile}, "give allow_subjects or allow_dns_sans"},
		{Config{Type: TypeMTLS, CAFile: "/nonexistent", AllowSubjects: []string{"a"}}, "ca_file: open"},
		{Config{Type: TypeBearer, Token: "t", CAFile: caFile}, "put ca_file, allow_subjects and allow_dns_sans under mtls:"},
		{Config{Type: TypeBearer, Token: "t", MTLS: &MTLSConfig{CAFile: caFile}}, "mtls.allow_subjects: give"},
		{Config{Type: TypeMTLS, CAFile: caFile, AllowSubjects: []string{"a"}, Token: "t"}, "token: not used by type mtls"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
