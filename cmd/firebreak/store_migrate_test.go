package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/internal/etcdtest"
	"github.com/firebreak/firebreak/store"
)

// startEtcdMember starts a real one-member etcd on loopback.
func startEtcdMember(t *testing.T) string { return etcdtest.One(t, nil) }

// TestStoreMigrate makes a single node's file with a real server run (the
// alerts processed, their steps run, the trail written) plus two events
// still pending, migrates it into an empty etcd prefix, and checks: audit
// verify --config passes with the same number of records, a second migrate
// into the now non-empty prefix is refused, and a clustered server on the
// result processes the two pending events (taken over) and nothing else,
// its records chaining on from the migrated trail (audit verify again).
func TestStoreMigrate(t *testing.T) {
	ctx := context.Background()
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(`
name: notify
match: event.source == "alertmanager" && event.status == "firing"
steps:
  - action: webhook.notify
    with: { url: "%s/hook", body: { alert: "{{ event.name }}" } }
`, sink.URL))
	cfg.Actions.HTTP.AllowCIDRs = []string{"127.0.0.1/32"}
	a := apptest.Start(t, cfg, app.Options{})
	now := time.Now().UTC()
	for i := range 3 {
		body := apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": fmt.Sprintf("A%d", i)}, StartsAt: now, Fingerprint: fmt.Sprintf("fp%d", i)})
		if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", body); code != http.StatusAccepted {
			t.Fatalf("POST = %d %s", code, b)
		}
	}
	apptest.WaitFor(t, 10*time.Second, "three steps", func() bool { return len(sink.Requests()) == 3 })
	apptest.WaitFor(t, 10*time.Second, "the inbox drained", func() bool { return a.DB.PendingCount() == 0 })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(cfg.DBPath(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		ev := event.Event{ID: fmt.Sprintf("later-%d", i), Source: "alertmanager", Name: "Later", Status: event.StatusFiring, StartsAt: now, ReceivedAt: now, Fingerprint: fmt.Sprintf("later%d", i)}
		if _, err := db.AppendEvents(ctx, []event.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	srcRecords, err := db.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	endpoint := startEtcdMember(t)
	cfgPath := filepath.Join(t.TempDir(), "firebreak.yaml")
	if err := os.WriteFile(cfgPath, []byte("store:\n  etcd:\n    endpoints: ["+endpoint+"]\n    prefix: /migrated\ncluster:\n  node: fb-0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := auditCLI(t, "store", "migrate", "--from-data-dir", cfg.DataDir, "--config", cfgPath)
	if code != 0 {
		t.Fatalf("store migrate = %d: %s%s", code, out, errOut)
	}
	if !strings.Contains(out, "migrated 5 inbox events (2 unfinished)") || !strings.Contains(out, fmt.Sprintf("%d audit records", srcRecords)) {
		t.Errorf("store migrate said: %s", out)
	}
	code, out, errOut = auditCLI(t, "audit", "verify", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d records", srcRecords)) {
		t.Errorf("audit verify --config = %d: %s%s (want %d records)", code, out, errOut, srcRecords)
	}
	code, _, errOut = auditCLI(t, "store", "migrate", "--from-data-dir", cfg.DataDir, "--config", cfgPath)
	if code == 0 || !strings.Contains(errOut, "is not empty") {
		t.Errorf("a second migrate into the same prefix = %d: %s", code, errOut)
	}

	// A clustered server on the result runs the two pending events' steps.
	ccfg := apptest.Config(t, fmt.Sprintf(`
name: notify
match: event.source == "alertmanager" && event.status == "firing"
steps:
  - action: webhook.notify
    with: { url: "%s/hook", body: { alert: "{{ event.name }}" } }
`, sink.URL))
	ccfg.Actions.HTTP.AllowCIDRs = []string{"127.0.0.1/32"}
	ccfg.Store.Etcd = &config.EtcdConfig{Endpoints: []string{endpoint}, Prefix: "/migrated"}
	ccfg.Cluster.Node = "fb-0"
	apptest.Start(t, ccfg, app.Options{})
	apptest.WaitFor(t, 30*time.Second, "the migrated pending events' steps", func() bool { return len(sink.Requests()) >= 5 })
	time.Sleep(500 * time.Millisecond)
	if n := len(sink.Requests()); n != 5 {
		t.Errorf("the receiver got %d calls, want 3 before and 2 after the migration", n)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	apptest.WaitFor(t, 10*time.Second, "no pending event left", func() bool {
		r, err := cli.Get(ctx, "/migrated/pending/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && r.Count == 0
	})
	// The cluster's records chain on from the migrated head.
	code, out, errOut = auditCLI(t, "audit", "verify", "--config", cfgPath)
	var after int
	if _, err := fmt.Sscanf(out, "audit trail intact: %d records", &after); code != 0 || err != nil || after <= srcRecords {
		t.Errorf("audit verify --config after the clustered run = %d: %s%s (want more than %d records)", code, out, errOut, srcRecords)
	}
}
