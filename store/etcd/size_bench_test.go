package etcd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
)

// BenchmarkAuditBytes measures what the audit trail costs in etcd, for
// sizing against etcd's quota (--quota-backend-bytes, 2 GiB by default):
// b.N Alertmanager-like events run through the real engine and guard (a
// dedupe window, a budget, one step) on a fresh 3-member cluster. It
// reports the audit records written per event, the bytes of the record
// keys and values per record (audit/<seq>, sha256 ‖ body), the bytes of
// their query index keys per record (auditidx/), the bytes of everything
// else per event (inbox, idempotency keys, claims, outcomes, guard state:
// what retention removes), and the growth of one member's database in use
// (after compacting every old revision and defragmenting) per record.
//
//	go test -run '^$' -bench AuditBytes -benchtime 2000x ./store/etcd
func BenchmarkAuditBytes(b *testing.B) {
	c := startCluster(b, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	raw, err := clientv3.New(clientv3.Config{Endpoints: c.clients, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	inUse := func() int64 {
		resp, err := raw.Get(ctx, "/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := raw.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil && !strings.Contains(err.Error(), "compacted") {
			b.Fatal(err)
		}
		if _, err := raw.Defragment(ctx, c.clients[0]); err != nil {
			b.Fatal(err)
		}
		st, err := raw.Status(ctx, c.clients[0])
		if err != nil {
			b.Fatal(err)
		}
		return st.DbSizeInUse
	}
	act := newTargetAction()
	s := c.open(b, nil)
	r := startGuardReplica(b, ctx, s, act, `name: restart-crashlooping
description: restart a crash-looping deployment, at most 3 times an hour
match: 'event.name == "KubePodCrashLooping"'
dedupe: { key: 'event.namespace + "/" + event.labels.deployment', window: 15m }
budget: "3/1h"`+restartTemplate, guard.Config{})
	before := inUse()
	raw0 := []byte(`{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","deployment":"cart","pod":"cart-7d9f-x2x","severity":"critical"},"annotations":{"summary":"Pod shop/cart-7d9f-x2x is crash looping"},"startsAt":"2026-12-07T08:00:00Z","fingerprint":"3f2a9c1b7e5d4a60"}`)
	b.ResetTimer()
	for i := 0; i < b.N; i += 50 {
		evs := make([]event.Event, 0, 50)
		for k := i; k < min(i+50, b.N); k++ {
			now := time.Now()
			id := fmt.Sprintf("am:3f2a9c1b7e5d%04d:%s:firing", k, now.UTC().Format(time.RFC3339Nano))
			evs = append(evs, event.Event{ID: id, Source: "alertmanager", Name: "KubePodCrashLooping", Status: event.StatusFiring,
				Severity: "critical", Fingerprint: fmt.Sprintf("3f2a9c1b7e5d%04d", k), Namespace: "shop",
				Labels:   map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": fmt.Sprintf("cart-%d", k%40), "app": fmt.Sprintf("cart-%d", k%40), "severity": "critical"},
				StartsAt: now, ReceivedAt: now, Raw: raw0})
		}
		if _, err := s.AppendEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
		r.eng.Notify()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for s.PendingCount() > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("%d events unfinished after 5 minutes", s.PendingCount())
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	after := inUse()
	resp, err := raw.Get(ctx, c.prefix, clientv3.WithPrefix())
	if err != nil {
		b.Fatal(err)
	}
	var records, recBytes, idxBytes, otherBytes int64
	for _, kv := range resp.Kvs {
		k := strings.TrimPrefix(string(kv.Key), c.prefix)
		n := int64(len(kv.Key) + len(kv.Value))
		switch {
		case strings.Contains(k, "auditidx/"):
			idxBytes += n
		case strings.Contains(k, "audit/") && !strings.HasSuffix(k, "audit/head"):
			records++
			recBytes += n
		default:
			otherBytes += n
		}
	}
	if records == 0 {
		b.Fatal("no audit records under " + c.prefix)
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(records)/float64(b.N), "records/event")
	b.ReportMetric(float64(recBytes)/float64(records), "record-B/record")
	b.ReportMetric(float64(idxBytes)/float64(records), "index-B/record")
	b.ReportMetric(float64(otherBytes)/float64(b.N), "other-B/event")
	b.ReportMetric(float64(after-before)/float64(records), "db-B/record")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d events, %d records: records %d B, index %d B, other %d B; db in use %d → %d B; action ran %d times",
		b.N, records, recBytes, idxBytes, otherBytes, before, after, act.count())
}
