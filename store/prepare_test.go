package store

import (
	"bytes"
	"context"
	"testing"

	"github.com/firebreak/firebreak/engine/audit"
)

// TestPrepareAuditStoresTheSameRecords: records prepared outside the
// transaction (PrepareAudit) are stored byte for byte as the same records
// written plainly, in two stores with the same clock, and the trail
// verifies; one prepared by hand, or under a redactor replaced since, is
// redacted by the redactor in force when it is written — a prepared
// record never carries a secret past the store.
func TestPrepareAuditStoresTheSameRecords(t *testing.T) {
	ctx := context.Background()
	plain, _ := openAuditTest(t)
	prep, _ := openAuditTest(t)
	red, err := audit.NewRedactor(audit.RedactConfig{Keys: []string{"customer_ref"}})
	if err != nil {
		t.Fatal(err)
	}
	plain.SetRedactor(red.Record)
	prep.SetRedactor(red.Record)
	recs := []audit.Record{
		{Kind: audit.KindReceived, EventID: "e1", Source: "am", Outcome: "accepted", Message: "Crash <firing>", Data: map[string]any{"labels": map[string]string{"a": "b"}}},
		{Kind: audit.KindMatched, EventID: "e1", Playbook: "p", Outcome: "matched", Data: map[string]any{"customer_ref": "C-99", "rule": `event.name == "Crash"`}},
		{Kind: audit.KindStepDryRun, EventID: "e1", Playbook: "p", Step: audit.StepIndex(0), Action: "webhook.notify", Outcome: "dry_run"},
	}
	for _, r := range recs {
		if err := plain.Audit(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := prep.Audit(ctx, prep.PrepareAudit(r)); err != nil {
			t.Fatal(err)
		}
	}
	a, b := auditValues(t, plain), auditValues(t, prep)
	if len(a) != len(recs) || len(b) != len(recs) {
		t.Fatalf("stored %d and %d records, want %d", len(a), len(b), len(recs))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("record %d: prepared store keeps\n%q\nplain one\n%q", i, b[i], a[i])
		}
	}
	if _, err := prep.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}

	// Prepared by hand: not trusted as redacted.
	secret := audit.Record{Kind: audit.KindMatched, EventID: "e2", Data: map[string]any{"customer_ref": "C-77"}}
	if err := prep.Audit(ctx, audit.Prepare(secret, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	// Prepared under a redactor replaced before the write.
	early := prep.PrepareAudit(audit.Record{Kind: audit.KindMatched, EventID: "e3", Data: map[string]any{"token_of_customer": "T-55"}})
	red2, err := audit.NewRedactor(audit.RedactConfig{Keys: []string{"customer_ref", "token_of_customer"}})
	if err != nil {
		t.Fatal(err)
	}
	prep.SetRedactor(red2.Record)
	if err := prep.Audit(ctx, early); err != nil {
		t.Fatal(err)
	}
	raw := auditRawFile(t, prep)
	for _, s := range []string{"C-99", "C-77", "T-55"} {
		if auditContains(raw, s) {
			t.Errorf("%q is in the database file", s)
		}
	}
}

// auditValues returns the trail's sealed values in order.
func auditValues(t *testing.T, db *DB) [][]byte {
	t.Helper()
	var out [][]byte
	err := db.scanAudit(audit.Query{}, func(_ uint64, v []byte) (bool, error) {
		out = append(out, append([]byte(nil), v...))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
