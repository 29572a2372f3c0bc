package app_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/web/auth"
	"github.com/firebreak/firebreak/web/tlstest"
)

// mtlsEnv is Firebreak over TLS with an mtls Alertmanager source trusting
// clientCA and allowing the subject "alertmanager", and a generic-free
// falco source needing a bearer token and a client certificate.
type mtlsEnv struct {
	serverCA, clientCA *tlstest.CA
	dir                string
	fb                 *app.App
	sink               *apptest.Sink
}

const mtlsFalcoToken = "falco-token-0123456789"

func newMTLSEnv(t *testing.T) *mtlsEnv {
	t.Helper()
	e := &mtlsEnv{serverCA: tlstest.NewCA(t, "server CA"), clientCA: tlstest.NewCA(t, "client CA"), dir: t.TempDir()}
	e.sink = apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, e.sink.URL))
	leaf := e.serverCA.Server(t, "firebreak")
	cfg.TLS.CertFile = tlstest.Write(t, e.dir, "tls.crt", leaf.CertPEM)
	cfg.TLS.KeyFile = tlstest.Write(t, e.dir, "tls.key", leaf.Key)
	caFile := tlstest.Write(t, e.dir, "clients-ca.pem", e.clientCA.PEM)
	cfg.Sources = map[string]app.SourceConfig{
		"alertmanager": {Auth: &auth.Config{Type: auth.TypeMTLS, CAFile: caFile, AllowSubjects: []string{"alertmanager"}, AllowDNSSANs: []string{"am.monitoring.svc"}}},
		"falco": {Auth: &auth.Config{Type: auth.TypeBearer, Token: mtlsFalcoToken,
			MTLS: &auth.MTLSConfig{CAFile: caFile, AllowSubjects: []string{"CN=falcosidekick,O=Firebreak tests"}}}},
	}
	e.fb = apptest.Start(t, cfg, app.Options{})
	return e
}

// client trusts the server CA and presents cert when given.
func (e *mtlsEnv) client(cert *tlstest.Leaf, t *testing.T) *http.Client {
	tc := &tls.Config{RootCAs: e.serverCA.Pool()}
	if cert != nil {
		// Presented whatever CAs the server names, as a misconfigured or
		// hostile client would.
		pair := cert.TLS(t)
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

func (e *mtlsEnv) post(t *testing.T, c *http.Client, path, token string, body []byte) (int, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.fb.URL()+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestMTLSSource: an mtls source accepts only a certificate that chains to
// its CA and names an allowed subject or DNS SAN, and the audit trail
// names the certificate's subject; combined with bearer, both must pass.
func TestMTLSSource(t *testing.T) {
	e := newMTLSEnv(t)
	other := tlstest.NewCA(t, "another CA")
	allowed := e.clientCA.Client(t, "alertmanager")
	bySAN := e.clientCA.Client(t, "am-7f9c", "am.monitoring.svc")
	unlisted := e.clientCA.Client(t, "grafana")
	foreign := other.Client(t, "alertmanager")
	falco := e.clientCA.Client(t, "falcosidekick")
	alert := func(fp string) []byte {
		return apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": fp}, StartsAt: time.Now(), Fingerprint: fp})
	}
	for _, tc := range []struct {
		name string
		cert *tlstest.Leaf
		want int // 0: the handshake fails
	}{
		{"no certificate", nil, http.StatusUnauthorized},
		{"another CA", &foreign, 0},
		{"subject not listed", &unlisted, http.StatusUnauthorized},
		{"allowed subject", &allowed, http.StatusAccepted},
		{"allowed DNS SAN", &bySAN, http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := e.post(t, e.client(tc.cert, t), "/hooks/alertmanager", "", alert("mtls-"+tc.name))
			if tc.want == 0 {
				if err == nil {
					t.Fatalf("a certificate of another CA was let through the handshake: %d", code)
				}
				return
			}
			if err != nil || code != tc.want {
				t.Fatalf("POST = %d (%v), want %d", code, err, tc.want)
			}
		})
	}
	apptest.WaitFor(t, 20*time.Second, "both accepted events to be received", func() bool {
		return len(auditRecords(t, e.fb, audit.Query{Kind: audit.KindReceived})) == 2
	})
	actors := map[string]bool{}
	for _, r := range auditRecords(t, e.fb, audit.Query{Kind: audit.KindReceived}) {
		actors[r.Actor] = true
	}
	if !actors[allowed.Cert.Subject.String()] || !actors[bySAN.Cert.Subject.String()] {
		t.Fatalf("event.received actors = %v, want the certificates' subjects", actors)
	}
	if n, _ := refusalCount(t, e.fb, "alertmanager"); n != 2 {
		t.Errorf("auth.failed counts %d refusals of alertmanager, want 2 (no certificate, subject not listed)", n)
	}

	// bearer + mtls: the token alone, the certificate alone and a token
	// with the wrong certificate are refused; both together pass.
	falcoBody := []byte(`{"uuid":"f-1","output":"shell in container","priority":"Critical","rule":"Terminal shell in container","time":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"cart-1"}}`)
	for _, tc := range []struct {
		name  string
		cert  *tlstest.Leaf
		token string
		want  int
	}{
		{"token without a certificate", nil, mtlsFalcoToken, http.StatusUnauthorized},
		{"certificate without a token", &falco, "", http.StatusUnauthorized},
		{"token with another subject", &allowed, mtlsFalcoToken, http.StatusUnauthorized},
		{"token and certificate", &falco, mtlsFalcoToken, http.StatusAccepted},
	} {
		if code, err := e.post(t, e.client(tc.cert, t), "/hooks/falco", tc.token, falcoBody); err != nil || code != tc.want {
			t.Errorf("falco, %s = %d (%v), want %d", tc.name, code, err, tc.want)
		}
	}
}

// TestRealAlertmanagerOverMTLS: a real Alertmanager configured with
// http_config.tls_config (the CA of Firebreak's certificate, and its own
// client certificate and key) posts to an mtls source over TLS, and the
// playbook acts; the event is received in the certificate's name.
func TestRealAlertmanagerOverMTLS(t *testing.T) {
	e := newMTLSEnv(t)
	amCert := e.clientCA.Client(t, "alertmanager")
	serverCA := tlstest.Write(t, e.dir, "server-ca.pem", e.serverCA.PEM)
	certFile := tlstest.Write(t, e.dir, "am.crt", amCert.CertPEM)
	keyFile := tlstest.Write(t, e.dir, "am.key", amCert.Key)
	am := startAlertmanager(t, fmt.Sprintf(`    webhook_configs:
      - url: %s/hooks/alertmanager
        send_resolved: false
        http_config:
          tls_config:
            ca_file: %s
            cert_file: %s
            key_file: %s`, e.fb.URL(), serverCA, certFile, keyFile))
	am.PostAlert(t, map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "over-mtls"}, time.Now(), time.Time{})
	apptest.WaitFor(t, 30*time.Second, "the notification over mTLS to act", func() bool {
		for _, r := range e.sink.Requests() {
			if r.Body["deployment"] == "over-mtls" {
				return true
			}
		}
		return false
	})
	recs := auditRecords(t, e.fb, audit.Query{Kind: audit.KindReceived})
	if len(recs) == 0 || recs[0].Actor != amCert.Cert.Subject.String() {
		t.Fatalf("event.received = %+v, want the actor %q", recs, amCert.Cert.Subject)
	}
	if n, _ := refusalCount(t, e.fb, "alertmanager"); n != 0 {
		t.Fatalf("%d refusals of Alertmanager's requests", n)
	}
}
