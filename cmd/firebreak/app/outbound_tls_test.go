package app_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/web/tlstest"
)

// TestOutboundTLS: a webhook.notify receiver inside a private PKI (its
// certificate from a CA the system does not trust, a client certificate
// required) is reached once actions.http.tls names the CA bundle and
// Firebreak's client certificate; without it the step fails.
func TestOutboundTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "private PKI")
	dir := t.TempDir()
	var mu sync.Mutex
	var callers []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		callers = append(callers, r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "receiver").TLS(t)}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	client := ca.Client(t, "firebreak")

	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprint("actions.http.tls=", withTLS), func(t *testing.T) {
			cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, srv.URL))
			if withTLS {
				cfg.Actions.HTTP.TLS.CAFile = tlstest.Write(t, dir, "ca.pem", ca.PEM)
				cfg.Actions.HTTP.TLS.CertFile = tlstest.Write(t, dir, "fb.crt", client.CertPEM)
				cfg.Actions.HTTP.TLS.KeyFile = tlstest.Write(t, dir, "fb.key", client.Key)
			}
			a := apptest.Start(t, cfg, app.Options{})
			if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", firingGroup(time.Now())); code != http.StatusAccepted {
				t.Fatalf("POST = %d %s", code, b)
			}
			kind := audit.KindStepFailed
			if withTLS {
				kind = audit.KindStepSucceeded
			}
			apptest.WaitFor(t, 30*time.Second, "the steps to end as "+string(kind), func() bool {
				return len(auditRecords(t, a, audit.Query{Kind: kind})) == 2
			})
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(callers) != 2 || callers[0] != "firebreak" {
		t.Fatalf("the receiver was called by %q, want Firebreak's certificate twice", callers)
	}
}
