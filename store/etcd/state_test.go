package etcd_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
	fbetcd "github.com/firebreak/firebreak/store/etcd"
)

// Two replicas increment one counter through Update at once: no increment
// is lost. And a dedupe-window style check-then-put from both: exactly one
// wins each key.
func TestUpdateIsSerializableAcrossReplicas(t *testing.T) {
	c := sharedCluster(t)
	reps := []*fbetcd.Store{c.open(t, nil), c.open(t, nil)}
	ctx := context.Background()
	const workers, each = 8, 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for r := range reps {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					err := reps[r].Update(ctx, func(tx state.Tx) error {
						n, _ := strconv.Atoi(string(tx.Get("counter", "n")))
						return tx.Put("counter", "n", []byte(strconv.Itoa(n+1)))
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got []byte
	if err := reps[1].View(ctx, func(tx state.Tx) error { got = tx.Get("counter", "n"); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(2 * workers * each); string(got) != want {
		t.Fatalf("counter = %s, want %s: increments were lost", got, want)
	}
	st := reps[0].UpdateStats()
	t.Logf("replica 0: %d commits for %d functions, %d conflicts", st.Commits, st.Functions, st.Conflicts)

	// Check-then-put: the dedupe window's pattern.
	var wins atomic.Int64
	for k := range 10 {
		var wg sync.WaitGroup
		for r := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				won := false
				err := reps[r%2].Update(ctx, func(tx state.Tx) error {
					won = false
					if tx.Get("dedupe", fmt.Sprint(k)) != nil {
						return nil
					}
					won = true
					return tx.Put("dedupe", fmt.Sprint(k), []byte(fmt.Sprint(r)))
				})
				if err != nil {
					t.Error(err)
				}
				if won {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
	}
	if wins.Load() != 10 {
		t.Fatalf("%d check-then-put wins over 10 keys, want exactly one per key", wins.Load())
	}
}

// A ForEach sees another replica's new key at commit time: a count of a
// bucket's keys followed by a put (a global cap's pattern) never lets both
// replicas exceed the cap.
func TestForEachConflictsWithAnInsert(t *testing.T) {
	c := sharedCluster(t)
	reps := []*fbetcd.Store{c.open(t, nil), c.open(t, nil)}
	ctx := context.Background()
	const limit = 5
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := reps[i%2].Update(ctx, func(tx state.Tx) error {
				n := 0
				if err := tx.ForEach("cap", func(string, []byte) error { n++; return nil }); err != nil {
					return err
				}
				if n >= limit {
					return nil
				}
				return tx.Put("cap", fmt.Sprintf("slot-%02d", i), []byte("x"))
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n := 0
	_ = reps[0].View(ctx, func(tx state.Tx) error {
		return tx.ForEach("cap", func(string, []byte) error { n++; return nil })
	})
	if n != limit {
		t.Fatalf("the bucket holds %d keys, want the cap %d", n, limit)
	}
}

// A function's own error fails only its caller; its writes are dropped,
// the others of its group commit.
func TestFunctionErrorFailsOnlyItsCaller(t *testing.T) {
	c := sharedCluster(t)
	s := c.open(t, nil)
	ctx := context.Background()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, 40)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.Update(ctx, func(tx state.Tx) error {
				if err := tx.Put("b", fmt.Sprint(i), []byte("v")); err != nil {
					return err
				}
				if i%4 == 0 {
					return boom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	err := s.View(ctx, func(tx state.Tx) error {
		for i, r := range results {
			got := tx.Get("b", fmt.Sprint(i))
			switch {
			case i%4 == 0 && (!errors.Is(r, boom) || got != nil):
				t.Errorf("function %d: err %v, value %q; want boom and nothing written", i, r, got)
			case i%4 != 0 && (r != nil || string(got) != "v"):
				t.Errorf("function %d: err %v, value %q; want committed", i, r, got)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, func(tx state.Tx) error { return tx.Put("b", "x", nil) }); !errors.Is(err, fbetcd.ErrReadOnly) {
		t.Errorf("Put in View = %v, want ErrReadOnly", err)
	}
}

// 300 small functions queued at once commit in several transactions (etcd
// takes 128 operations per transaction) and every caller is answered; a
// single function too large for one transaction gets ErrTxnTooLarge.
func TestUpdateBatchesAreSplitByEtcdLimits(t *testing.T) {
	c := sharedCluster(t)
	s := c.open(t, nil)
	ctx := context.Background()
	// Hold the loop with a slow function so that the 300 queue up.
	release := make(chan struct{})
	go func() {
		_ = s.Update(ctx, func(tx state.Tx) error { <-release; return nil })
	}()
	time.Sleep(100 * time.Millisecond)
	before := s.UpdateStats()
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Update(ctx, func(tx state.Tx) error {
				if err := tx.Put("split", fmt.Sprintf("%03d", i), []byte("v")); err != nil {
					return err
				}
				return tx.Audit(audit.Record{Kind: audit.KindReload, EventID: fmt.Sprintf("ev-%d", i), Outcome: "ok"})
			})
		}()
	}
	time.Sleep(300 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	after := s.UpdateStats()
	commits := after.Commits - before.Commits
	if commits < 8 || after.Functions-before.Functions < 300 {
		t.Fatalf("%d commits carried %d functions; 300 functions of 4 operations need at least 8 transactions", commits, after.Functions-before.Functions)
	}
	t.Logf("300 functions in %d transactions", commits)
	n := 0
	_ = s.View(ctx, func(tx state.Tx) error {
		return tx.ForEach("split", func(string, []byte) error { n++; return nil })
	})
	if n != 300 {
		t.Fatalf("%d keys written, want 300", n)
	}
	if got, err := s.VerifyAudit(ctx); err != nil || got != 300 {
		t.Fatalf("verify = %d, %v; want 300 records", got, err)
	}
	err := s.Update(ctx, func(tx state.Tx) error {
		for i := range 200 {
			if err := tx.Put("huge", fmt.Sprint(i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, fbetcd.ErrTxnTooLarge) {
		t.Fatalf("a function of 200 puts = %v, want ErrTxnTooLarge", err)
	}
}

// Two replicas audit at once: the trail is one chain, without gaps or
// forks, that verifies; the indexes find each event's records.
func TestAuditChainAcrossReplicas(t *testing.T) {
	c := sharedCluster(t)
	reps := []*fbetcd.Store{c.open(t, nil), c.open(t, nil)}
	ctx := context.Background()
	var wg sync.WaitGroup
	const workers, each = 6, 15
	for r := range reps {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					id := fmt.Sprintf("ev-%d-%d", r, w)
					err := reps[r].Update(ctx, func(tx state.Tx) error {
						return tx.Audit(audit.Record{Kind: audit.KindStepStarted, EventID: id, Playbook: fmt.Sprintf("pb-%d", r), Step: audit.StepIndex(i), Outcome: "started"})
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	total := 2 * workers * each
	n, err := reps[0].VerifyAudit(ctx)
	if err != nil || n != total {
		t.Fatalf("verify = %d, %v; want %d records", n, err, total)
	}
	recs, next, err := reps[1].ListAudit(ctx, audit.Query{Limit: 1000})
	if err != nil || next != 0 || len(recs) != total {
		t.Fatalf("list = %d records, next %d, %v", len(recs), next, err)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has sequence %d", i, r.Seq)
		}
		if r.Data["fencing_token"] == nil {
			t.Fatalf("step.started record %d carries no fencing token: %v", r.Seq, r.Data)
		}
	}
	mine, err := reps[0].AuditForEvent(ctx, "ev-1-3")
	if err != nil || len(mine) != each {
		t.Fatalf("records of ev-1-3 = %d, %v; want %d", len(mine), err, each)
	}
	for i, r := range mine {
		if r.EventID != "ev-1-3" || *r.Step != i {
			t.Fatalf("record %d of ev-1-3: %+v", i, r)
		}
	}
	page, next, err := reps[0].ListAudit(ctx, audit.Query{Playbook: "pb-0", Limit: 10})
	if err != nil || len(page) != 10 || next != page[9].Seq {
		t.Fatalf("playbook page = %d records, next %d, %v", len(page), next, err)
	}
	page2, _, err := reps[0].ListAudit(ctx, audit.Query{Playbook: "pb-0", Limit: 10, After: next})
	if err != nil || len(page2) != 10 || page2[0].Seq <= next || page2[0].Playbook != "pb-0" {
		t.Fatalf("second page = %+v, %v", page2, err)
	}
	mid := recs[total/2].Time
	since, _, err := reps[0].ListAudit(ctx, audit.Query{Since: mid, Limit: 1000})
	if err != nil || len(since) == 0 || since[0].Time.Before(mid) {
		t.Fatalf("since query = %d records, %v", len(since), err)
	}
	t.Logf("replica 0: %+v; replica 1: %+v", reps[0].UpdateStats(), reps[1].UpdateStats())

	// An edit is found.
	raw := rawClient(t, c)
	k := c.prefix + "/audit/" + fmt.Sprintf("%020d", 7)
	resp, err := raw.Get(ctx, k)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read record 7: %v", err)
	}
	edited := append([]byte{}, resp.Kvs[0].Value...)
	edited[len(edited)-3] ^= 1
	if _, err := raw.Put(ctx, k, string(edited)); err != nil {
		t.Fatal(err)
	}
	if _, err := reps[1].VerifyAudit(ctx); !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("verify after an edit = %v, want ErrChainBroken", err)
	}
}

// Signed checkpoints come every `every` records of the cluster's chain,
// whichever replica writes; a key verifies them.
func TestSignedCheckpointsAcrossReplicas(t *testing.T) {
	c := sharedCluster(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	reps := []*fbetcd.Store{c.open(t, nil), c.open(t, nil)}
	var signed atomic.Int64
	for _, s := range reps {
		s.SetSigner(priv, 10)
		s.OnCheckpointSigned(func(audit.SignedCheckpoint) { signed.Add(1) })
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 45 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := reps[i%2].Audit(ctx, audit.Record{Kind: audit.KindReload, Outcome: "ok"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rep, err := reps[0].VerifyAuditWith(ctx, audit.VerifyOptions{PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signed < 4 || int64(rep.Signed) != signed.Load() {
		t.Fatalf("report %+v, hooks told of %d; want at least 4 signed checkpoints, each told once", rep, signed.Load())
	}
	cp, err := reps[1].SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp != nil {
		if again, err := reps[0].SignCheckpoint(ctx); err != nil || again != nil {
			t.Fatalf("second SignCheckpoint = %+v, %v; want nil (nothing new)", again, err)
		}
	}
	if _, err := reps[0].VerifyAuditWith(ctx, audit.VerifyOptions{PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
}

// Retention compacts the trail behind a checkpoint that keeps it
// verifiable, and removes finished inbox events, never pending ones.
func TestCompactKeepsTheChainVerifiable(t *testing.T) {
	c := sharedCluster(t)
	s := c.open(t, nil)
	ctx := context.Background()
	for i := range 50 {
		if err := s.Audit(ctx, audit.Record{Kind: audit.KindReload, EventID: fmt.Sprintf("e%d", i%5), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := s.AuditBytes(ctx)
	res, err := s.Compact(ctx, store.Retention{MaxRecords: 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.AuditRemoved != 31 || res.Checkpoint == nil || res.Checkpoint.RemovedThrough != 31 {
		t.Fatalf("compact = %+v (checkpoint %+v); want 31 removed through 31", res, res.Checkpoint)
	}
	after, _ := s.AuditBytes(ctx)
	if after >= before {
		t.Fatalf("audit bytes %d after compaction, %d before", after, before)
	}
	n, err := s.VerifyAudit(ctx)
	if err != nil || n != 20 {
		t.Fatalf("verify after compaction = %d, %v; want 20 records", n, err)
	}
	recs, err := s.AuditForEvent(ctx, "e1")
	if err != nil || len(recs) != 4 {
		t.Fatalf("records of e1 after compaction = %d, %v; want 4", len(recs), err)
	}
	// Inbox: finish one of two events; both are old.
	old1, old2, fresh := alert("old-done"), alert("old-pending"), alert("fresh-done")
	old1.ReceivedAt, old2.ReceivedAt, fresh.ReceivedAt = time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour), time.Now()
	seqs, err := s.AppendEvents(ctx, []event.Event{old1, old2, fresh})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx state.Tx) error {
		for _, id := range []string{"old-done", "fresh-done"} {
			if err := tx.Audit(audit.Record{Kind: audit.KindReceived, EventID: id}); err != nil {
				return err
			}
		}
		if err := tx.Finish(seqs[2]); err != nil {
			return err
		}
		return tx.Finish(seqs[0])
	}); err != nil {
		t.Fatal(err)
	}
	res, err = s.Compact(ctx, store.Retention{InboxMaxAge: time.Hour})
	if err != nil || res.InboxRemoved != 1 {
		t.Fatalf("inbox compaction = %+v, %v; want 1 removed", res, err)
	}
	if _, _, err := s.EventByID(ctx, "old-done"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("finished event after compaction: %v", err)
	}
	for _, id := range []string{"old-pending", "fresh-done"} {
		if _, ev, err := s.EventByID(ctx, id); err != nil || ev.ID != id {
			t.Fatalf("%s after compaction: %v", id, err)
		}
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

// Dead letters live in the state buckets: store.PutDLQ through the Tx,
// ListDLQ and DLQCount read them back.
func TestDLQThroughTheTx(t *testing.T) {
	c := sharedCluster(t)
	s := c.open(t, nil)
	ctx := context.Background()
	err := s.Update(ctx, func(tx state.Tx) error {
		for i := range 3 {
			e := store.DLQEntry{Key: fmt.Sprintf("ev%d|pb|steps|0", i), EventID: fmt.Sprintf("ev%d", i), FailedAt: time.Unix(int64(100-i), 0)}
			if err := store.PutDLQ(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListDLQ(ctx)
	if err != nil || len(list) != 3 || list[0].EventID != "ev2" {
		t.Fatalf("dlq = %+v, %v; want 3, oldest failure (ev2) first", list, err)
	}
	if n, err := s.DLQCount(ctx); err != nil || n != 3 {
		t.Fatalf("dlq count = %d, %v", n, err)
	}
}

// Fencing: the session's lease is revoked through the etcd client while an
// Update runs: its commit fails with ErrFenced and writes nothing; the
// store then starts a new session (a new fencing token) and commits again.
func TestRevokedSessionFencesUpdates(t *testing.T) {
	c := sharedCluster(t)
	s := c.open(t, nil)
	ctx := context.Background()
	raw := rawClient(t, c)
	old := s.FencingToken()
	member, err := raw.Get(ctx, c.prefix+"/members/"+s.Node())
	if err != nil || len(member.Kvs) != 1 {
		t.Fatalf("member key: %v", err)
	}
	lease := clientv3.LeaseID(member.Kvs[0].Lease)
	var token int64
	err = s.Update(ctx, func(tx state.Tx) error {
		token = tx.(interface{ FencingToken() int64 }).FencingToken()
		if _, err := raw.Revoke(ctx, lease); err != nil {
			return err
		}
		return tx.Put("fenced", "k", []byte("late"))
	})
	if !errors.Is(err, fbetcd.ErrFenced) {
		t.Fatalf("update after revocation = %v, want ErrFenced", err)
	}
	if token != old {
		t.Fatalf("the Tx's fencing token %d is not the store's %d", token, old)
	}
	if resp, _ := raw.Get(ctx, c.prefix+"/state/fenced/k"); len(resp.Kvs) != 0 {
		t.Fatal("the fenced transaction wrote its key")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.Update(ctx, func(tx state.Tx) error { return tx.Put("fenced", "k", []byte("again")) })
		if err == nil {
			break
		}
		if !errors.Is(err, fbetcd.ErrFenced) || time.Now().After(deadline) {
			t.Fatalf("update after the new session: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if now := s.FencingToken(); now == 0 || now == old {
		t.Fatalf("fencing token after recovery = %d (before %d)", now, old)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("ready after recovery: %v", err)
	}
}

// Takeover: replica A accepts events and dies (closed without finishing
// them: its lease is revoked); replica B takes them over, and its Pending
// returns each exactly once, whatever cursor the engine passes.
func TestTakeoverReturnsADeadReplicasEventsOnce(t *testing.T) {
	c := sharedCluster(t)
	a := c.open(t, nil)
	b := c.open(t, func(cfg *fbetcd.Config) { cfg.TakeoverInterval = time.Hour }) // the watch must do it
	ctx := context.Background()
	var evs []event.Event
	for i := range 5 {
		evs = append(evs, alert(fmt.Sprintf("a-%d", i)))
	}
	seqs, err := a.AppendEvents(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := b.AppendEvents(ctx, []event.Event{alert("b-0")})
	if got, _ := a.Pending(ctx, 0, 100); len(got) != 5 {
		t.Fatalf("A's pending = %v, want its 5", got)
	}
	if got, _ := b.Pending(ctx, 0, 100); len(got) != 1 || got[0] != mine[0] {
		t.Fatalf("B's pending = %v, want only %v", got, mine)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Takeovers():
	case <-time.After(15 * time.Second):
		t.Fatal("B took nothing over within 15s of A's end")
	}
	got, err := b.Pending(ctx, mine[0], 100) // the cursor is past A's events
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(seqs) {
		t.Fatalf("B's pending after takeover = %v, want A's %v", got, seqs)
	}
	if again, _ := b.Pending(ctx, mine[0], 100); len(again) != 0 {
		t.Fatalf("the taken-over events came back: %v", again)
	}
	if n, _ := b.Takeover(ctx); n != 0 {
		t.Fatalf("a second takeover took %d", n)
	}
	err = b.Update(ctx, func(tx state.Tx) error {
		for _, q := range append(seqs, mine[0]) {
			if err := tx.Finish(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := b.PendingCount(); n != 0 {
		t.Fatalf("pending count after finishing = %d", n)
	}
}

// Takeover while the survivor has a backlog of its own: the engine passes
// as cursor the last sequence Pending returned, and taken-over events are
// returned first, so the cursor can jump past the survivor's own events
// that were accepted in between (sequences are cluster-wide). Every event
// must still be returned exactly once, whatever the limit (the storm test
// stalled with hundreds pending when a takeover exceeded one call's limit).
func TestTakeoverDoesNotSkipTheSurvivorsBacklog(t *testing.T) {
	c := sharedCluster(t)
	a := c.open(t, nil)
	b := c.open(t, func(cfg *fbetcd.Config) { cfg.TakeoverInterval = time.Hour })
	ctx := context.Background()
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	appendN := func(s *fbetcd.Store, prefix string, n int) []uint64 {
		t.Helper()
		var evs []event.Event
		for i := range n {
			// Unique in the shared cluster, whose seen keys outlive a test.
			evs = append(evs, alert(fmt.Sprintf("%s-%s-%d", run, prefix, i)))
		}
		seqs, err := s.AppendEvents(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		return seqs
	}
	want := map[uint64]bool{}
	for _, q := range appendN(a, "a-early", 5) {
		want[q] = true
	}
	for _, q := range appendN(b, "b", 3) {
		want[q] = true
	}
	for _, q := range appendN(a, "a-late", 5) {
		want[q] = true
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The engine's loop: Pending from the cursor, the cursor is the last
	// sequence returned, until nothing comes back; run again after each
	// takeover B reports. A takeover may first adopt what earlier tests
	// on the shared cluster left behind, so B's first report does not
	// mean A's events are in: keep going until they are, or time out.
	got := map[uint64]int{}
	var cursor uint64
	deadline := time.After(15 * time.Second)
	for {
		for range 20 {
			seqs, err := b.Pending(ctx, cursor, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(seqs) == 0 {
				break
			}
			for _, q := range seqs {
				got[q]++
				cursor = q
			}
		}
		all := true
		for q := range want {
			all = all && got[q] > 0
		}
		if all {
			break
		}
		select {
		case <-b.Takeovers():
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("within 15s of A's end B returned %v, want all of %v", got, want)
		}
	}
	for q, n := range got {
		if n != 1 {
			t.Errorf("event %d returned %d times, want once", q, n)
		}
	}
}

// Leader election: of two campaigning replicas one leads; the other's
// UpdateAsLeader fails; when the leader closes, the other leads.
func TestLeaderElection(t *testing.T) {
	c := sharedCluster(t)
	a, b := c.open(t, nil), c.open(t, nil)
	ctx := context.Background()
	ach, bch := a.LeaderChanges(), b.LeaderChanges()
	a.Campaign()
	select {
	case v := <-ach:
		if !v {
			t.Fatal("A told it stopped leading")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("A did not lead within 10s")
	}
	b.Campaign()
	time.Sleep(300 * time.Millisecond)
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("leaders: A %v, B %v", a.IsLeader(), b.IsLeader())
	}
	if name, err := b.Leader(ctx); err != nil || name != a.Node() {
		t.Fatalf("B sees leader %q (%v), want %s", name, err, a.Node())
	}
	put := func(tx state.Tx) error { return tx.Put("timers", "fired", []byte("1")) }
	if err := b.UpdateAsLeader(ctx, put); !errors.Is(err, fbetcd.ErrNotLeader) {
		t.Fatalf("UpdateAsLeader on the follower = %v, want ErrNotLeader", err)
	}
	if err := a.UpdateAsLeader(ctx, put); err != nil {
		t.Fatalf("UpdateAsLeader on the leader: %v", err)
	}
	// The leader's key goes behind its back (as when an operator or a
	// lease expiry removes it): its commits are refused.
	raw := rawClient(t, c)
	if _, err := raw.Delete(ctx, c.prefix+"/leader/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if err := a.UpdateAsLeader(ctx, put); !errors.Is(err, fbetcd.ErrNotLeader) {
		t.Fatalf("UpdateAsLeader after the key went = %v, want ErrNotLeader", err)
	}
	// Someone leads again; then close whoever leads: the other takes over.
	deadline := time.Now().Add(10 * time.Second)
	for !a.IsLeader() && !b.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("nobody leads 10s after the key went")
		}
		time.Sleep(20 * time.Millisecond)
	}
	lead, other, och := a, b, bch
	if b.IsLeader() {
		lead, other, och = b, a, ach
	}
	_ = lead.Close()
	deadline = time.Now().Add(10 * time.Second)
	for !other.IsLeader() {
		select {
		case <-och:
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica did not lead within 10s of the leader's close")
		}
	}
	if err := other.UpdateAsLeader(ctx, put); err != nil {
		t.Fatalf("UpdateAsLeader on the new leader: %v", err)
	}
}

// A change of a state bucket on one replica is seen by another's watch.
func TestWatchBucketSeesAnotherReplica(t *testing.T) {
	c := sharedCluster(t)
	a, b := c.open(t, nil), c.open(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := a.WatchBucket(ctx, "guard_control")
	time.Sleep(200 * time.Millisecond) // let the watch start
	if err := b.Update(ctx, func(tx state.Tx) error { return tx.Put("guard_control", "pause", []byte(`{}`)) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the other replica's change was not seen within 10s")
	}
}

// Inbox retention with a ForgetEvent that deletes many keys per event:
// chunks too large for one transaction go event by event, and nothing
// fails.
func TestCompactInboxWithLargeForget(t *testing.T) {
	c := sharedCluster(t)
	s := c.open(t, nil)
	ctx := context.Background()
	var evs []event.Event
	for i := range 10 {
		ev := alert(fmt.Sprintf("f-%d", i))
		ev.ReceivedAt = time.Now().Add(-2 * time.Hour)
		evs = append(evs, ev)
	}
	seqs, err := s.AppendEvents(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx state.Tx) error {
		for i, q := range seqs {
			if err := tx.Audit(audit.Record{Kind: audit.KindReceived, EventID: evs[i].ID}); err != nil {
				return err
			}
			if err := tx.Finish(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		err := s.Update(ctx, func(tx state.Tx) error {
			for k := range 20 {
				if err := tx.Put("steps", fmt.Sprintf("%s|pb|steps|%d", ev.ID, k), []byte("done")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Compact(ctx, store.Retention{InboxMaxAge: time.Hour, ForgetEvent: func(tx state.Tx, id string) error {
		return tx.DeletePrefix("steps", id+"|")
	}})
	if err != nil || res.InboxRemoved != 10 {
		t.Fatalf("compact = %+v, %v; want 10 removed", res, err)
	}
	left := 0
	_ = s.View(ctx, func(tx state.Tx) error {
		return tx.ForEach("steps", func(string, []byte) error { left++; return nil })
	})
	if left != 0 {
		t.Fatalf("%d step claims left after their events went", left)
	}
}

// A replica that lost its session while processing an event another
// replica then took over cannot commit for that event any more, even on
// its new session (Tx.Own, Tx.Finish); the new owner can.
func TestOwnFencesAnEventTakenOver(t *testing.T) {
	c := sharedCluster(t)
	a := c.open(t, nil)
	b := c.open(t, nil)
	ctx := context.Background()
	seqs, err := a.AppendEvents(ctx, []event.Event{alert("in-flight")})
	if err != nil {
		t.Fatal(err)
	}
	old := a.FencingToken()
	raw := rawClient(t, c)
	member, err := raw.Get(ctx, c.prefix+"/members/"+a.Node())
	if err != nil || len(member.Kvs) != 1 {
		t.Fatalf("member key: %v", err)
	}
	if _, err := raw.Revoke(ctx, clientv3.LeaseID(member.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.FencingToken() == 0 || a.FencingToken() == old {
		if time.Now().After(deadline) {
			t.Fatal("A has no new session")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// B takes the event over: what its takeover transaction writes. (A's
	// own takeover, on its new session, races with B's; here B won.)
	marker := fmt.Sprintf("%s/pending/%020d", c.prefix, seqs[0])
	if _, err := raw.Put(ctx, marker, fmt.Sprintf("%d/%s", b.FencingToken(), b.Node())); err != nil {
		t.Fatal(err)
	}
	late := func(tx state.Tx) error {
		if err := tx.(*fbetcd.Tx).Own(seqs[0]); err != nil {
			return err
		}
		return tx.Put("steps", "in-flight|pb|steps|0", []byte("done-late"))
	}
	if err := a.Update(ctx, late); !errors.Is(err, fbetcd.ErrFenced) {
		t.Fatalf("A's late commit for the event = %v, want ErrFenced", err)
	}
	if err := a.Update(ctx, func(tx state.Tx) error { return tx.Finish(seqs[0]) }); !errors.Is(err, fbetcd.ErrFenced) {
		t.Fatalf("A's late finish = %v, want ErrFenced", err)
	}
	if err := b.Update(ctx, late); err != nil {
		t.Fatalf("the new owner's commit: %v", err)
	}
	if err := b.Update(ctx, func(tx state.Tx) error { return tx.Finish(seqs[0]) }); err != nil {
		t.Fatal(err)
	}
	// Finished: a record for the event (an approval decided later, on any
	// replica) is allowed again.
	if err := a.Update(ctx, late); err != nil {
		t.Fatalf("a commit for the finished event: %v", err)
	}
}

// A function whose audit record alone exceeds what one etcd transaction
// takes fails alone with ErrTxnTooLarge; the functions sharing its group
// commit.
func TestAHugeAuditRecordFailsAlone(t *testing.T) {
	c := sharedCluster(t)
	s := c.open(t, nil)
	ctx := context.Background()
	release := make(chan struct{})
	go func() { _ = s.Update(ctx, func(state.Tx) error { <-release; return nil }) }()
	time.Sleep(50 * time.Millisecond)
	huge := make(chan error, 1)
	small := make(chan error, 1)
	go func() {
		huge <- s.Audit(ctx, audit.Record{Kind: audit.KindReload, Message: strings.Repeat("x", 2<<20)})
	}()
	go func() { small <- s.Audit(ctx, audit.Record{Kind: audit.KindReload, Outcome: "ok"}) }()
	time.Sleep(100 * time.Millisecond)
	close(release)
	if err := <-huge; !errors.Is(err, fbetcd.ErrTxnTooLarge) {
		t.Fatalf("a 2 MiB record = %v, want ErrTxnTooLarge", err)
	}
	if err := <-small; err != nil {
		t.Fatalf("the small record of the same group: %v", err)
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != 1 {
		t.Fatalf("verify = %d, %v; want the one small record", n, err)
	}
}

// Each replica numbers its events from its own block, so the inbox is in
// arrival order block by block, not as a whole: an old event in a later
// block (replica B's) is removed even though an earlier block (replica
// A's) holds a newer one.
func TestCompactInboxLooksInEveryBlock(t *testing.T) {
	c := sharedCluster(t)
	a, b := c.open(t, nil), c.open(t, nil)
	ctx := context.Background()
	fresh, old := alert("fresh-on-a"), alert("old-on-b")
	fresh.ReceivedAt, old.ReceivedAt = time.Now(), time.Now().Add(-2*time.Hour)
	finish := func(s *fbetcd.Store, ev event.Event) uint64 {
		t.Helper()
		seqs, err := s.AppendEvents(ctx, []event.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Update(ctx, func(tx state.Tx) error { return tx.Finish(seqs[0]) }); err != nil {
			t.Fatal(err)
		}
		return seqs[0]
	}
	qa := finish(a, fresh) // A's block comes first
	qb := finish(b, old)
	if qb < qa {
		t.Fatalf("B's event has sequence %d, before A's %d: the test needs A's block first", qb, qa)
	}
	res, err := a.Compact(ctx, store.Retention{InboxMaxAge: time.Hour})
	if err != nil || res.InboxRemoved != 1 {
		t.Fatalf("inbox compaction = %+v, %v; want the old event removed", res, err)
	}
	if _, _, err := a.EventByID(ctx, "old-on-b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the old event after compaction: %v; want it gone", err)
	}
	if _, _, err := a.EventByID(ctx, "fresh-on-a"); err != nil {
		t.Errorf("the fresh event after compaction: %v", err)
	}
}
