package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
)

// TestAuditHeadsPageAsListAudit: over a real bbolt file, AuditHeads
// returns, page for page and cursor for cursor, the sequence, time and
// kind of the records ListAudit returns, for the counters' queries (a
// time range, After, a limit), a kind, and the filters a head cannot
// apply itself (an event id, a playbook, an outcome); a record stored in
// another shape (keys in another order, as a hand-edited or foreign file
// may hold) is read by the fallback with the same values.
func TestAuditHeadsPageAsListAudit(t *testing.T) {
	db, clk := openAuditTest(t)
	fillAudit(t, db, clk, 3000)
	// Record 1500 rewritten with its keys in another order.
	err := db.bolt.Update(func(tx *boltTx) error {
		b := tx.Bucket(bucketAudit)
		r, err := DecodeRecord(1500, sealedOf(b.Get(itob(1500))))
		if err != nil {
			return err
		}
		body, err := json.Marshal(map[string]any{"kind": r.Kind, "time": r.Time, "seq": r.Seq, "event_id": r.EventID,
			"playbook": r.Playbook, "action": r.Action, "outcome": r.Outcome, "prev": r.Prev})
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		return b.Put(itob(1500), append(sum[:], body...))
	})
	if err != nil {
		t.Fatal(err)
	}
	queries := []audit.Query{
		{Limit: 100},
		{Since: auditT0.Add(1000 * time.Second), Limit: 1000},
		{After: 1200, Since: auditT0.Add(1000 * time.Second), Until: auditT0.Add(1600 * time.Second), Limit: 33},
		{Since: auditT0.Add(1498*time.Second + time.Second/2), Until: auditT0.Add(1500*time.Second + time.Second/2)},
		{Kind: audit.KindStepRefused, Limit: 77},
		{EventID: "e374", Limit: 2},
		{Playbook: "pb-c", Since: auditT0.Add(2000 * time.Second), Limit: 50},
		{Outcome: "deduped", Kind: audit.KindStepRefused, Limit: 200},
		{Outcome: "no such outcome"},
	}
	for _, q := range queries {
		total := 0
		for {
			recs, next, err := db.ListAudit(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			heads, hnext, err := db.AuditHeads(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if hnext != next || len(heads) != len(recs) {
				t.Fatalf("%+v: %d heads and cursor %d, %d records and cursor %d", q, len(heads), hnext, len(recs), next)
			}
			for i := range recs {
				if want := recs[i].Head(); heads[i].Seq != want.Seq || heads[i].Kind != want.Kind || !heads[i].Time.Equal(want.Time) {
					t.Fatalf("%+v: head %+v, record %+v", q, heads[i], want)
				}
			}
			total += len(recs)
			if next == 0 {
				break
			}
			q.After = next
		}
		if total == 0 && q.Outcome != "no such outcome" {
			t.Fatalf("%+v matches nothing: the case tells nothing", q)
		}
	}
	err = db.bolt.View(func(tx *boltTx) error {
		if v := tx.Bucket(bucketAudit).Get(itob(1500)); string(v[sha256.Size:sha256.Size+7]) == `{"seq":` {
			t.Fatal("record 1500 is still in Seal's shape: the fallback was not exercised")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
