package etcd_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/internal/etcdtest"
	"github.com/firebreak/firebreak/internal/storetest"
	"github.com/firebreak/firebreak/store"
	fbetcd "github.com/firebreak/firebreak/store/etcd"
)

// headsTrail writes the same records to a store: mixed kinds (some not
// in the catalogue, one with characters JSON escapes, one outside ASCII),
// times with nanoseconds, on whole seconds, given with a zone offset and
// given out of order (the store moves them up), and data maps whose keys
// are those of the head.
func headsTrail(t *testing.T, s store.Backend, t0 time.Time) {
	t.Helper()
	kinds := []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepSucceeded, audit.KindStepFailed,
		audit.KindStepRefused, "custom.kind", "odd<&>kind", "zürich"}
	east := time.FixedZone("", 2*3600)
	var recs []audit.Record
	for i := range 600 {
		at := t0.Add(time.Duration(i) * 7 * time.Second)
		switch i % 5 {
		case 1:
			at = at.Add(123456789 * time.Nanosecond)
		case 2:
			at = at.In(east)
		case 3:
			at = at.Add(-time.Hour) // before its predecessor: stored with its time
		}
		recs = append(recs, audit.Record{Time: at, Kind: kinds[i%len(kinds)], EventID: fmt.Sprintf("e%d", i/3),
			Playbook: []string{"pb-a", "pb-b"}[i%2], Outcome: []string{"ok", "failed", "deduped"}[i%3],
			Message: `"kind":"step.failed","seq":1`, Data: map[string]any{"seq": i, "time": "x", "kind": "y"}})
	}
	for len(recs) > 0 {
		n := min(len(recs), 40)
		if err := s.Audit(context.Background(), recs[:n]...); err != nil {
			t.Fatal(err)
		}
		recs = recs[n:]
	}
}

// pageAll reads every page of q through read, checking that a page
// never holds more than the limit.
func pageAll[T any](t *testing.T, q audit.Query, read func(context.Context, audit.Query) ([]T, uint64, error)) []T {
	t.Helper()
	var out []T
	for {
		page, next, err := read(context.Background(), q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if q.Limit > 0 && len(page) > q.Limit {
			t.Fatalf("%+v: a page of %d", q, len(page))
		}
		out = append(out, page...)
		if next == 0 {
			return out
		}
		q.After = next
	}
}

// TestAuditHeadsMatchListAudit: on a real bbolt file and on a real
// embedded etcd holding the same records, AuditHeads returns, for every
// query (the counters' time ranges and paging, a kind, and the filters a
// head cannot apply itself), exactly the sequence, time and kind of what
// ListAudit returns, page for page; and the two stores agree.
func TestAuditHeadsMatchListAudit(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	db, err := store.Open(filepath.Join(t.TempDir(), "firebreak.db"), store.Options{NoSync: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	es, err := fbetcd.Open(ctx, fbetcd.Config{Endpoints: []string{etcdtest.One(t, nil)}, Prefix: "/heads", Node: "n1",
		RequestTimeout: 5 * time.Second, SessionTTL: 2 * time.Second, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = es.Close() })
	backends := []struct {
		name string
		s    store.Backend
	}{{"bbolt", db}, {"etcd", es}}
	for _, b := range backends {
		headsTrail(t, b.s, t0)
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	queries := []audit.Query{
		{},
		{Limit: 7},
		{Since: at(10 * time.Minute), Limit: 50},
		{Since: at(10*time.Minute + 123456789), Until: at(40*time.Minute + 7*time.Second), Limit: 13},
		{After: 100, Since: at(5 * time.Minute), Limit: 1000},
		{Until: at(time.Minute)},
		{Since: at(24 * time.Hour)},
		{Kind: audit.KindStepFailed, Limit: 9},
		{Kind: "odd<&>kind"},
		{Kind: "zürich", Since: at(20 * time.Minute)},
		{EventID: "e7"},
		{Playbook: "pb-b", Since: at(30 * time.Minute), Limit: 11},
		{Outcome: "failed", Kind: audit.KindStepRefused},
		{Action: "none"},
	}
	var heads [][]audit.Head
	for _, b := range backends {
		for qi, q := range queries {
			recs := pageAll(t, q, b.s.ListAudit)
			got := pageAll(t, q, b.s.AuditHeads)
			if len(got) != len(recs) {
				t.Fatalf("%s, %+v: %d heads, %d records", b.name, q, len(got), len(recs))
			}
			for i := range recs {
				if want := recs[i].Head(); got[i].Seq != want.Seq || got[i].Kind != want.Kind || !got[i].Time.Equal(want.Time) || got[i].Time.Location() != want.Time.Location() {
					t.Fatalf("%s, %+v: head %d is %+v, the record's %+v", b.name, q, i, got[i], want)
				}
			}
			if b.name == "bbolt" {
				heads = append(heads, got)
				if len(got) == 0 && q.Action == "" && q.Since.Before(at(time.Hour)) {
					t.Fatalf("%+v matches nothing: the case tells nothing", q)
				}
				continue
			}
			if len(got) != len(heads[qi]) {
				t.Fatalf("%+v: etcd %d heads, bbolt %d", q, len(got), len(heads[qi]))
			}
			for i := range got {
				if g, w := got[i], heads[qi][i]; g.Seq != w.Seq || g.Kind != w.Kind || !g.Time.Equal(w.Time) {
					t.Fatalf("%+v: etcd head %+v, bbolt %+v", q, g, w)
				}
			}
		}
	}
}

// BenchmarkAuditHeads reads 10,000 records with data maps from a real
// embedded etcd the way the dashboard's last-hour counter does — from a
// time bound, in pages of 1,000 after a cursor — through ListAudit and
// through AuditHeads. ns/record is per record read; B/op and allocs/op
// are per read of all 10,000.
//
//	go test -run '^$' -bench AuditHeads -benchtime 10x ./store/etcd
func BenchmarkAuditHeads(b *testing.B) {
	const n = 10_000
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	s, err := fbetcd.Open(ctx, fbetcd.Config{Endpoints: []string{etcdtest.One(b, nil)}, Prefix: "/bench", Node: "n1",
		RequestTimeout: 30 * time.Second, SessionTTL: 5 * time.Second, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	for i := 0; i < n; i += 25 {
		var recs []audit.Record
		for j := i; j < i+25; j++ {
			recs = append(recs, audit.Record{Time: t0.Add(time.Duration(j) * time.Millisecond), Kind: []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepDryRun}[j%3],
				EventID: fmt.Sprintf("alertmanager-%016x", j/3), Source: "alertmanager", Playbook: "shadow", Step: audit.StepIndex(0),
				Action: "kubernetes.restart", Target: fmt.Sprintf("Deployment/ns-%d/app-%d", j%50, j%300), Outcome: "ok",
				Data: map[string]any{"params": map[string]any{"kind": "Deployment", "namespace": fmt.Sprintf("ns-%d", j%50), "name": fmt.Sprintf("app-%d", j%300)},
					"labels": map[string]any{"alertname": "KubePodCrashLooping", "severity": "critical", "pod": fmt.Sprintf("app-%d-x7f", j)}}})
		}
		if err := s.Audit(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}
	storetest.BenchAuditReads(b, s, t0, n)
}
