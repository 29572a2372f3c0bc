package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

func TestAuditConfigSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "firebreak.yaml")
	text := `
audit:
  retention:
    max_age: 2160h
    max_records: 5000000
    max_bytes: 1073741824
    inbox_max_age: 720h
    interval: 30m
  redaction:
    keys: [customer_ref]
    patterns: ['ACME-\d{6}']
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Audit.Retention
	if time.Duration(r.MaxAge) != 90*24*time.Hour || r.MaxRecords != 5000000 || r.MaxBytes != 1<<30 || time.Duration(r.InboxMaxAge) != 30*24*time.Hour || time.Duration(r.Interval) != 30*time.Minute {
		t.Errorf("retention = %+v", r)
	}
	if red := cfg.Audit.Redaction; len(red.Keys) != 1 || red.Keys[0] != "customer_ref" || len(red.Patterns) != 1 {
		t.Errorf("redaction = %+v", red)
	}
	if err := os.WriteFile(path, []byte("audit:\n  retention:\n    max_agee: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := app.LoadConfig(path); err == nil {
		t.Error("an unknown audit key was accepted")
	}
}

func TestRetentionJobCompactsAndChainStaysVerifiable(t *testing.T) {
	cfg := apptest.Config(t, "")
	cfg.Audit.Retention.MaxRecords = 20
	cfg.Audit.Retention.Interval = app.Duration(20 * time.Millisecond)
	cfg.Audit.Redaction.Keys = []string{"customer_ref"}
	cfg.Audit.Redaction.Patterns = []string{`ACME-\d{6}`}
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	ctx := context.Background()
	var recs []audit.Record
	for i := range 100 {
		recs = append(recs, audit.Record{Kind: audit.KindReceived, EventID: fmt.Sprintf("e%d", i), Outcome: "accepted",
			Message: "order ACME-123456", Data: map[string]any{"customer_ref": "C-42"}})
	}
	if err := a.DB.Audit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	// The checkpoint is committed inside Compact, the counter is added to
	// after Compact returns: wait for both, or a loaded machine scrapes 0.
	apptest.WaitFor(t, 10*time.Second, "retention to compact and count it", func() bool {
		cp, err := a.DB.AuditCheckpoint(ctx)
		if err != nil || cp == nil {
			return false
		}
		got, _ := sample(scrape(t, a.URL()), "firebreak_retention_removed_total", map[string]string{"store": "audit"})
		return got == 81
	})
	resp, err := http.Get(a.URL() + "/api/v1/audit/verify")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		OK      bool   `json:"ok"`
		Records int    `json:"records"`
		Error   string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if !v.OK || v.Records != 20 {
		t.Fatalf("verify after retention = %+v, want ok with 20 records", v)
	}
	cp, _ := a.DB.AuditCheckpoint(ctx)
	if cp.Removed != 81 || cp.RemovedThrough != 81 {
		t.Errorf("checkpoint = %+v, want 81 removed through #81", cp)
	}
	left, _, err := a.DB.ListAudit(ctx, audit.Query{Kind: audit.KindReceived, Limit: 100})
	if err != nil || len(left) != 19 || left[0].EventID != "e81" {
		t.Fatalf("kept records: %d, %v", len(left), err)
	}
	if left[0].Message != "order [redacted]" || left[0].Data["customer_ref"] != audit.Redacted {
		t.Errorf("configured redaction not applied: %q %v", left[0].Message, left[0].Data)
	}
	fams := scrape(t, a.URL())
	if got, _ := sample(fams, "firebreak_retention_removed_total", map[string]string{"store": "audit"}); got != 81 {
		t.Errorf("firebreak_retention_removed_total{store=audit} = %v, want 81", got)
	}
	size, _ := a.DB.AuditBytes(ctx)
	if got, ok := sample(fams, "firebreak_audit_stored_bytes", nil); !ok || got != float64(size) || size == 0 {
		t.Errorf("firebreak_audit_stored_bytes = %v (present %v), want %d", got, ok, size)
	}
}
