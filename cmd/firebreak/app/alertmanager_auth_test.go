package app_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/web/auth"
)

// TestRealAlertmanagerAuth configures basic auth and a bearer token on
// both sides: Alertmanager's notifications get through, and a sender
// without the credentials is refused.
func TestRealAlertmanagerAuth(t *testing.T) {
	cases := []struct {
		name   string
		fbAuth auth.Config
		amHTTP string
		bad    func(r *http.Request)
	}{
		{"basic", auth.Config{Type: auth.TypeBasic, Username: "alertmanager", Password: "s3cret-basic"},
			"basic_auth: {username: alertmanager, password: s3cret-basic}",
			func(r *http.Request) { r.SetBasicAuth("alertmanager", "wrong") }},
		{"bearer", auth.Config{Type: auth.TypeBearer, Token: "s3cret-bearer-token"},
			"authorization: {type: Bearer, credentials: s3cret-bearer-token}",
			func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := apptest.NewSink(t)
			cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, sink.URL))
			fbAuth := tc.fbAuth
			cfg.Sources = map[string]app.SourceConfig{"alertmanager": {Auth: &fbAuth}}
			fb := apptest.Start(t, cfg, app.Options{})

			// A request with wrong credentials is refused and audited.
			req, _ := http.NewRequest(http.MethodPost, fb.URL()+"/hooks/alertmanager", bytes.NewReader(firingGroup(time.Now())))
			req.Header.Set("Content-Type", "application/json")
			tc.bad(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "s3cret") {
				t.Fatalf("wrong credentials = %d %s, want 401 without the secret", resp.StatusCode, body)
			}
			if n := len(auditRecords(t, fb, audit.Query{Kind: audit.KindAuthFailed})); n != 1 {
				t.Fatalf("auth.failed records = %d, want 1", n)
			}

			am := startAlertmanager(t, fmt.Sprintf(`    webhook_configs:
      - url: %s/hooks/alertmanager
        http_config:
          %s`, fb.URL(), tc.amHTTP))
			am.PostAlert(t, map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "auth-" + tc.name}, time.Now(), time.Time{})
			apptest.WaitFor(t, 30*time.Second, "the authenticated notification to act", func() bool { return len(sink.Requests()) == 1 })
		})
	}
}

// flakyProxy sits between Alertmanager and Firebreak: it answers the first
// delivery 503 without forwarding it, forwards the second but answers 503
// anyway (an acknowledgement lost after the commit), and forwards the rest.
type flakyProxy struct {
	target string
	mu     sync.Mutex
	seen   int
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen++
	n := p.seen
	p.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if n == 1 {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	req, _ := http.NewRequest(r.Method, p.target+r.URL.Path, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if n == 2 {
		http.Error(w, "lost acknowledgement", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

func (p *flakyProxy) deliveries() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// TestRealAlertmanagerRetriesAndAmtool: 5xx answers make Alertmanager
// retry, and the event is still acted on exactly once; an alert added with
// amtool reaches the playbook.
func TestRealAlertmanagerRetriesAndAmtool(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, sink.URL))
	fb := apptest.Start(t, cfg, app.Options{})
	proxy := &flakyProxy{target: fb.URL()}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	am := startAlertmanager(t, fmt.Sprintf(`    webhook_configs:
      - url: %s/hooks/alertmanager
        send_resolved: false`, ps.URL))

	am.PostAlert(t, map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "retried"}, time.Now(), time.Time{})
	apptest.WaitFor(t, 60*time.Second, "Alertmanager to get a 2xx after retrying", func() bool { return proxy.deliveries() >= 3 })
	apptest.WaitFor(t, 10*time.Second, "the action", func() bool { return len(sink.Requests()) >= 1 })
	apptest.WaitFor(t, 10*time.Second, "inbox drained", func() bool { return fb.DB.PendingCount() == 0 })
	if n := len(sink.Requests()); n != 1 {
		t.Fatalf("webhook calls = %d after %d deliveries, want exactly 1", n, proxy.deliveries())
	}

	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Skip("amtool not installed")
	}
	out, err := exec.Command(amtool, "--alertmanager.url="+am.URL, "alert", "add",
		"alertname=KubeDeploymentReplicasMismatch", "namespace=shop", "deployment=from-amtool", "severity=critical",
		"--annotation=summary=added with amtool").CombinedOutput()
	if err != nil {
		t.Fatalf("amtool alert add: %v: %s", err, out)
	}
	apptest.WaitFor(t, 60*time.Second, "the amtool alert to reach the playbook", func() bool {
		for _, r := range sink.Requests() {
			if r.Body["deployment"] == "from-amtool" {
				return true
			}
		}
		return false
	})
}
