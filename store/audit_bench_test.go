package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/internal/storetest"
)

// benchRecord is a realistic record: a step outcome with rendered params.
func benchRecord(i int) audit.Record {
	return audit.Record{
		Time:     auditT0.Add(time.Duration(i) * time.Second),
		Kind:     []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepStarted, audit.KindStepSucceeded}[i%4],
		EventID:  fmt.Sprintf("alertmanager-%016x", i/4),
		Source:   "alertmanager",
		Playbook: fmt.Sprintf("playbook-%02d", i%20),
		Step:     audit.StepIndex(0),
		Action:   "kubernetes.restart",
		Target:   fmt.Sprintf("Deployment/ns-%d/app-%d", i%50, i%300),
		Outcome:  "ok",
		Message:  "restarted Deployment ns/app: 3 pods replaced",
		Data: map[string]any{"params": map[string]any{"kind": "Deployment", "namespace": fmt.Sprintf("ns-%d", i%50), "name": fmt.Sprintf("app-%d", i%300)},
			"attempts": 1, "duration_ms": 1200},
	}
}

// BenchmarkAuditQuery queries a trail of 1,000,000 records (one a second,
// 20 playbooks) for the first page of 100.
func BenchmarkAuditQuery(b *testing.B) {
	const n = 1_000_000
	db, _ := openAuditTest(b)
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < n; i += 10000 {
		err := db.Update(ctx, func(stx state.Tx) error {
			for j := i; j < i+10000; j++ {
				if err := stx.Audit(benchRecord(j)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("wrote %d records in %s", n, time.Since(start).Round(time.Millisecond))
	mid := auditT0.Add(n / 2 * time.Second)
	queries := []struct {
		name string
		q    audit.Query
		want int
	}{
		{"time_range+playbook", audit.Query{Since: mid, Until: mid.Add(24 * time.Hour), Playbook: "playbook-07"}, 100},
		{"time_range", audit.Query{Since: mid, Until: mid.Add(24 * time.Hour)}, 100},
		{"event_id", audit.Query{EventID: fmt.Sprintf("alertmanager-%016x", n/8)}, 4},
		{"playbook+outcome_no_match_in_range", audit.Query{Since: mid, Until: mid.Add(time.Hour), Playbook: "playbook-07", Outcome: "failed"}, 0},
	}
	// The baseline: what ListAudit did before the index, the binary search
	// and the prefilter — unpack and decode every record from the start
	// and filter.
	b.Run("baseline_full_scan_time_range+playbook", func(b *testing.B) {
		q := queries[0].q
		for b.Loop() {
			var out []audit.Record
			err := db.bolt.View(func(tx *boltTx) error {
				c := tx.Bucket(bucketAudit).Cursor()
				for k, stored := c.First(); k != nil && len(out) < 100; k, stored = c.Next() {
					v, err := unpackRecord(stored, nil)
					if err != nil {
						return err
					}
					r, err := DecodeRecord(btoi(k), v)
					if err != nil {
						return err
					}
					if q.Match(&r) {
						out = append(out, r)
					}
				}
				return nil
			})
			if err != nil || len(out) != 100 {
				b.Fatalf("%d records, %v", len(out), err)
			}
		}
	})
	for _, qc := range queries {
		b.Run(qc.name, func(b *testing.B) {
			q := qc.q
			q.Limit = 100
			for b.Loop() {
				recs, _, err := db.ListAudit(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(recs) != qc.want {
					b.Fatalf("%d records, want %d", len(recs), qc.want)
				}
			}
		})
	}
}

// BenchmarkIngestAuditWrite measures what the audit trail costs the
// engine's first transaction per event (the received and matched records
// plus the "events" marker), against the same transaction without the
// records, with 64 concurrent writers sharing group commits, fsync on.
func BenchmarkIngestAuditWrite(b *testing.B) {
	for _, withAudit := range []bool{false, true} {
		name := "marker_only"
		if withAudit {
			name = "marker+2_audit_records"
		}
		b.Run(name, func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "firebreak.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			b.SetParallelism(32) // 32 × GOMAXPROCS(2) = 64 writers
			var id int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(auditAtomicAdd(&id))
					err := db.Update(ctx, func(tx state.Tx) error {
						if withAudit {
							r := benchRecord(i * 4)
							if err := tx.Audit(r); err != nil {
								return err
							}
							r = benchRecord(i*4 + 1)
							if err := tx.Audit(r); err != nil {
								return err
							}
						}
						return tx.Put("events", fmt.Sprint(i), []byte("matched"))
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			commits, fns := db.CommitStats()
			b.ReportMetric(float64(fns)/float64(max(commits, 1)), "fns/commit")
		})
	}
}

// BenchmarkTxAudit measures Tx.Audit alone: per event, the three records
// the engine writes for a shadow step (received, matched, dry run), 32
// events per commit as under load, fsync off, the default redactor.
// "plain" hands the records to Tx.Audit as they are; "prepared" readies
// them first (PrepareAudit, as the engine does outside the transaction).
// serial-ns/record is the time inside Update — the commit loop every
// writer waits on — and ns/record the whole.
//
//	go test -run '^$' -bench BenchmarkTxAudit -benchmem ./store/
func BenchmarkTxAudit(b *testing.B) {
	for _, prepared := range []bool{false, true} {
		name := "plain"
		if prepared {
			name = "prepared"
		}
		b.Run(name, func(b *testing.B) { benchTxAudit(b, prepared) })
	}
}

func benchTxAudit(b *testing.B, prepared bool) {
	db, err := Open(filepath.Join(b.TempDir(), "firebreak.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	red, err := audit.NewRedactor(audit.RedactConfig{})
	if err != nil {
		b.Fatal(err)
	}
	db.SetRedactor(red.Record)
	ctx := context.Background()
	const perCommit = 32
	b.ReportAllocs()
	n := 0
	var serial time.Duration
	recs := make([]audit.Record, 0, perCommit*3)
	for b.Loop() {
		recs = recs[:0]
		for j := range perCommit {
			id := fmt.Sprintf("am:%016x", uint64(n*perCommit+j)*0x9e3779b97f4a7c15)
			recs = append(recs,
				audit.Record{Kind: audit.KindReceived, EventID: id, Source: "alertmanager", Outcome: "accepted", Message: "KubePodCrashLooping firing (critical)",
					Data: map[string]any{"labels": map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-api-7d9c-1"}}},
				audit.Record{Kind: audit.KindMatched, EventID: id, Playbook: "bench", Outcome: "matched", Data: map[string]any{"rule": "true", "mode": "shadow"}},
				audit.Record{Kind: audit.KindStepDryRun, EventID: id, Playbook: "bench", Action: "webhook.notify", Target: "webhook/127.0.0.1:9", Outcome: "dry_run",
					Message: "would run (shadow mode): would POST 441 bytes to http://127.0.0.1:9/x", Data: map[string]any{"params": map[string]any{"url": "http://127.0.0.1:9/x"}}})
		}
		if prepared {
			for i := range recs {
				recs[i] = db.PrepareAudit(recs[i])
			}
		}
		start := time.Now()
		err := db.Update(ctx, func(stx state.Tx) error {
			for _, r := range recs {
				if err := stx.(*Tx).Audit(r); err != nil {
					return err
				}
			}
			return nil
		})
		serial += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*perCommit*3), "ns/record")
	b.ReportMetric(float64(serial.Nanoseconds())/float64(n*perCommit*3), "serial-ns/record")
}

// BenchmarkAuditHeads reads 10,000 records (realistic ones, with data
// maps) the way the dashboard's last-hour counter does — from a time
// bound, in pages of 1,000 after a cursor — through ListAudit (a full JSON
// decode of each) and through AuditHeads (the sequence, time and kind
// only). ns/record is per record read; B/op and allocs/op are per read of
// all 10,000.
func BenchmarkAuditHeads(b *testing.B) {
	const n = 10_000
	db, _ := openAuditTest(b)
	ctx := context.Background()
	err := db.Update(ctx, func(stx state.Tx) error {
		for j := range n {
			if err := stx.Audit(benchRecord(j)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	storetest.BenchAuditReads(b, db, auditT0, n)
}
