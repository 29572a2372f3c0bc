package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

// alertmanagerBinary finds a real Alertmanager (Debian's
// prometheus-alertmanager). Without one the test skips locally and fails
// under CI, so CI can never pass without the real thing.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FIREBREAK_ALERTMANAGER"); p != "" {
		return p
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Alertmanager binary: scripts/setup.sh installs Debian's prometheus-alertmanager")
	}
	t.Skip("no Alertmanager binary (apt-get install prometheus-alertmanager, or set FIREBREAK_ALERTMANAGER)")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Alertmanager is a real Alertmanager process on loopback.
type Alertmanager struct {
	URL string
}

// startAlertmanager runs Alertmanager with receiverYAML as its only
// receiver (named firebreak) and stops it when the test ends.
func startAlertmanager(t *testing.T, receiverYAML string) *Alertmanager {
	t.Helper()
	bin := alertmanagerBinary(t)
	dir := t.TempDir()
	conf := fmt.Sprintf(`route:
  receiver: firebreak
  group_by: [alertname, namespace, deployment]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: firebreak
%s
`, receiverYAML)
	confPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+confPath,
		"--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start alertmanager: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", stderr.String())
		}
	})
	am := &Alertmanager{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	apptest.WaitFor(t, 20*time.Second, "alertmanager ready", func() bool {
		resp, err := http.Get(am.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return am
}

// PostAlert sends one alert to Alertmanager's v2 API.
func (am *Alertmanager) PostAlert(t *testing.T, labels map[string]string, startsAt, endsAt time.Time) {
	t.Helper()
	a := map[string]any{"labels": labels, "annotations": map[string]string{"summary": "replicas mismatch"}, "startsAt": startsAt.UTC().Format(time.RFC3339Nano), "generatorURL": "http://prometheus.example/graph"}
	if !endsAt.IsZero() {
		a["endsAt"] = endsAt.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal([]any{a})
	resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alertmanager POST /api/v2/alerts = %s", resp.Status)
	}
}

func TestRealAlertmanagerFiringAndResolved(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, sink.URL))
	fb := apptest.Start(t, cfg, app.Options{})
	am := startAlertmanager(t, fmt.Sprintf(`    webhook_configs:
      - url: %s/hooks/alertmanager
        send_resolved: true`, fb.URL()))

	labels := map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "cart-api", "severity": "critical"}
	start := time.Now().Add(-time.Minute)
	am.PostAlert(t, labels, start, time.Time{})
	apptest.WaitFor(t, 30*time.Second, "the playbook's webhook call", func() bool { return len(sink.Requests()) >= 1 })
	if got := sink.Requests()[0].Body["deployment"]; got != "cart-api" {
		t.Fatalf("webhook body deployment = %v, want cart-api", got)
	}

	// Resolve it: Alertmanager sends the resolved notification too.
	am.PostAlert(t, labels, start, time.Now())
	apptest.WaitFor(t, 30*time.Second, "the resolved notification", func() bool {
		for _, r := range auditRecords(t, fb, audit.Query{Kind: audit.KindReceived}) {
			if r.Message == "KubeDeploymentReplicasMismatch resolved (critical)" {
				return true
			}
		}
		return false
	})
	// The resolved event matches no firing rule: still exactly one action.
	apptest.WaitFor(t, 5*time.Second, "inbox drained", func() bool { return fb.DB.PendingCount() == 0 })
	if n := len(sink.Requests()); n != 1 {
		t.Fatalf("webhook calls = %d, want 1", n)
	}
	if _, err := fb.DB.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
}
