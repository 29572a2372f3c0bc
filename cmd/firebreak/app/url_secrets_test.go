package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

const urlSecretsPlaybook = `
name: secret-urls
match: event.source == "alertmanager" && event.status == "firing"
steps:
  - action: webhook.notify
    with:
      url: "http://alice:Pa55-in-userinfo@%s/hook?sig=SIG-IN-QUERY&severity=critical"
  - action: webhook.notify
    with:
      url_env: FB_TEST_SLACK_WEBHOOK
`

// TestURLSecretsStayOutOfTheAuditTrail: a URL's password and signature
// query value, and a whole secret URL given through url_env, are used for
// the request but appear nowhere in the audit trail.
func TestURLSecretsStayOutOfTheAuditTrail(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		mu.Lock()
		seen = append(seen, u+":"+p+" "+r.URL.RequestURI())
		mu.Unlock()
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	t.Setenv("FB_TEST_SLACK_WEBHOOK", srv.URL+"/services/T0000/B0000/PATH-IS-THE-SECRET")
	cfg := apptest.Config(t, fmt.Sprintf(urlSecretsPlaybook, host))
	a := apptest.Start(t, cfg, app.Options{})
	body := apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": "Secretive"}, StartsAt: time.Now(), Fingerprint: "sec1"})
	if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", body); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, b)
	}
	apptest.WaitFor(t, 20*time.Second, "both steps to succeed", func() bool {
		return len(auditRecords(t, a, audit.Query{Kind: audit.KindStepSucceeded})) == 2
	})
	mu.Lock()
	got := strings.Join(seen, "\n")
	mu.Unlock()
	for _, want := range []string{"alice:Pa55-in-userinfo /hook?sig=SIG-IN-QUERY&severity=critical", ": /services/T0000/B0000/PATH-IS-THE-SECRET"} {
		if !strings.Contains(got, want) {
			t.Fatalf("the receiver did not get %q; got:\n%s", want, got)
		}
	}
	trail, err := json.Marshal(auditRecords(t, a, audit.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"Pa55-in-userinfo", "SIG-IN-QUERY", "PATH-IS-THE-SECRET", "T0000/B0000"} {
		if strings.Contains(string(trail), secret) {
			t.Errorf("the audit trail holds %q:\n%s", secret, trail)
		}
	}
	if !strings.Contains(string(trail), "severity=critical") || !strings.Contains(string(trail), "FB_TEST_SLACK_WEBHOOK") {
		t.Errorf("the trail lost what is not secret (the safe query value, the variable's name):\n%s", trail)
	}
}
