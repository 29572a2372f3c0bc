package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/firebreak/firebreak/engine/event"
	fbetcd "github.com/firebreak/firebreak/store/etcd"
)

func alert(id string) event.Event {
	return event.Event{ID: id, Source: "alertmanager", Status: event.StatusFiring, Name: "KubePodCrashLooping",
		Labels: map[string]string{"namespace": "shop"}, Raw: []byte(`{"alert":"` + id + `"}`)}
}

func rawClient(t *testing.T, c *cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.clients, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func TestConfigErrorsNameTheirKeys(t *testing.T) {
	t.Setenv("FB_ETCD_EMPTY", "")
	for _, tt := range []struct {
		cfg  fbetcd.Config
		want []string
	}{
		{fbetcd.Config{}, []string{"store.etcd.endpoints: at least one endpoint is required"}},
		{fbetcd.Config{Endpoints: []string{"etcd-0:2379", "ftp://x"}, Prefix: "firebreak/"}, []string{
			`store.etcd.endpoints[0]: "etcd-0:2379" is not an http:// or https:// URL`,
			`store.etcd.endpoints[1]: "ftp://x" is not an http:// or https:// URL`,
			`store.etcd.prefix: "firebreak/" must start with / and not end with one`}},
		{fbetcd.Config{Endpoints: []string{"http://127.0.0.1:1"}, TLS: &fbetcd.TLSConfig{CertFile: "c.pem"}}, []string{
			`store.etcd.endpoints[0]: "http://127.0.0.1:1" is plain http but store.etcd.tls is set`,
			"store.etcd.tls.cert_file and store.etcd.tls.key_file go together"}},
		{fbetcd.Config{Endpoints: []string{"http://127.0.0.1:1"}, Username: "fb"}, []string{"store.etcd.username and store.etcd.password_env go together"}},
		{fbetcd.Config{Endpoints: []string{"http://127.0.0.1:1"}, Username: "fb", PasswordEnv: "FB_ETCD_EMPTY"}, []string{"store.etcd.password_env: environment variable FB_ETCD_EMPTY is unset or empty"}},
	} {
		_, err := fbetcd.Open(context.Background(), tt.cfg)
		if err == nil {
			t.Errorf("Open(%+v) succeeded", tt.cfg)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%+v) = %q, want it to contain %q", tt.cfg, err, w)
			}
		}
	}
}

// Two replicas share the idempotency keys: a re-send that reaches the
// other replica is a duplicate (seq 0), also inside a group where only some
// events are duplicates, and also twice within one call.
func TestDuplicatesAcrossReplicas(t *testing.T) {
	c := sharedCluster(t)
	a, b := c.open(t, nil), c.open(t, nil)
	ctx := context.Background()

	seqs, err := a.AppendEvents(ctx, []event.Event{alert("e1"), alert("e2"), alert("e2")})
	if err != nil {
		t.Fatal(err)
	}
	if seqs[0] == 0 || seqs[1] == 0 || seqs[1] <= seqs[0] || seqs[2] != 0 {
		t.Fatalf("first append = %v, want two increasing sequences and 0 for the repeated e2", seqs)
	}
	again, err := b.AppendEvents(ctx, []event.Event{alert("e0"), alert("e1"), alert("e3"), alert("e2")})
	if err != nil {
		t.Fatal(err)
	}
	if again[0] == 0 || again[1] != 0 || again[2] == 0 || again[3] != 0 {
		t.Fatalf("re-send on the other replica = %v, want e1 and e2 recognised (0)", again)
	}
	if again[0] <= seqs[1] || again[2] <= again[0] {
		t.Errorf("sequences of the second replica %v do not follow the first's %v", again, seqs)
	}
	// The same replica again, right after its own commit: its view of the
	// sequence counter is current, so only the idempotency keys' compare
	// can catch the repeats.
	if _, err := a.AppendEvents(ctx, []event.Event{alert("e4")}); err != nil {
		t.Fatal(err)
	}
	mixed, err := a.AppendEvents(ctx, []event.Event{alert("e5"), alert("e4"), alert("e0")})
	if err != nil {
		t.Fatal(err)
	}
	if mixed[0] == 0 || mixed[1] != 0 || mixed[2] != 0 {
		t.Fatalf("re-send on the same replica = %v, want e4 and e0 recognised (0)", mixed)
	}
	n, err := a.InboxLen(ctx)
	if err != nil || n != 6 {
		t.Fatalf("inbox holds %d events (%v), want 6", n, err)
	}
	ev, err := b.Event(ctx, seqs[1])
	if err != nil || ev.ID != "e2" || string(ev.Raw) != `{"alert":"e2"}` {
		t.Fatalf("event %d = %+v, %v", seqs[1], ev, err)
	}
	if _, err := a.AppendEvents(ctx, []event.Event{{}}); !errors.Is(err, fbetcd.ErrInvalidEvent) {
		t.Errorf("an event without id: %v", err)
	}
}

// 1,000 appends from 16 goroutines, on two replicas at once, with every
// id sent twice: each id is stored exactly once, every sequence is unique,
// and each acknowledged event can be read back.
func TestConcurrentAppendsAreDurableAndUnique(t *testing.T) {
	c := sharedCluster(t)
	reps := []*fbetcd.Store{c.open(t, nil), c.open(t, nil)}
	ctx := context.Background()
	const workers, total = 16, 1000
	var (
		mu    sync.Mutex
		bySeq = map[uint64]string{}
		acked = map[string]int{}
		wg    sync.WaitGroup
		errs  = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				id := fmt.Sprintf("alert-%04d", i)
				for _, s := range []*fbetcd.Store{reps[i%2], reps[(i+1)%2]} {
					seqs, err := s.AppendEvents(ctx, []event.Event{alert(id)})
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if seqs[0] != 0 {
						if prev, dup := bySeq[seqs[0]]; dup {
							errs <- fmt.Errorf("sequence %d given to %s and %s", seqs[0], prev, id)
						}
						bySeq[seqs[0]] = id
						acked[id]++
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(acked) != total {
		t.Fatalf("%d ids stored, want %d", len(acked), total)
	}
	for id, n := range acked {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	n, err := reps[0].InboxLen(ctx)
	if err != nil || n != total {
		t.Fatalf("inbox holds %d (%v), want %d", n, err, total)
	}
	for seq, id := range bySeq {
		if seq%97 != 0 {
			continue
		}
		ev, err := reps[1].Event(ctx, seq)
		if err != nil || ev.ID != id {
			t.Errorf("event %d = %q, %v; want %s", seq, ev.ID, err, id)
		}
	}
}

// A group larger than one transaction allows (128 operations) is split,
// and every event is still stored once.
func TestLargeGroupsAreSplit(t *testing.T) {
	c := sharedCluster(t)
	s := c.open(t, nil)
	var evs []event.Event
	for i := range 300 {
		evs = append(evs, alert(fmt.Sprintf("big-%d", i)))
	}
	// Big bodies too: 40 events of 100 KiB exceed 1.5 MiB per transaction.
	body := []byte(`"` + strings.Repeat("x", 100<<10) + `"`)
	for i := range 40 {
		ev := alert(fmt.Sprintf("fat-%d", i))
		ev.Raw = body
		evs = append(evs, ev)
	}
	seqs, err := s.AppendEvents(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for i, q := range seqs {
		if q == 0 || seen[q] {
			t.Fatalf("event %d got sequence %d (0 or repeated)", i, q)
		}
		seen[q] = true
	}
	huge := alert("huge")
	huge.Raw = []byte(`"` + strings.Repeat("x", 2<<20) + `"`)
	if _, err := s.AppendEvents(context.Background(), []event.Event{huge}); !errors.Is(err, fbetcd.ErrTooLarge) {
		t.Errorf("a 2 MiB event: %v, want ErrTooLarge", err)
	}
}

// A step is claimed at most once across replicas, even when they race.
func TestClaimAtMostOnce(t *testing.T) {
	c := sharedCluster(t)
	reps := []*fbetcd.Store{c.open(t, nil), c.open(t, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for k := range 20 {
		key := fmt.Sprintf("ev-%d|restart|steps|0", k)
		var (
			wg   sync.WaitGroup
			wins = make(chan fbetcd.Claim, 8)
			errs = make(chan error, 8)
		)
		for r := range 8 {
			s := reps[r%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				lease, err := s.Grant(ctx, 10)
				if err != nil {
					errs <- err
					return
				}
				cl, err := s.Claim(ctx, key, fmt.Sprintf("replica-%d", r%2), lease)
				switch {
				case err == nil:
					wins <- cl
				case errors.Is(err, fbetcd.ErrClaimed):
				default:
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(wins)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var got []fbetcd.Claim
		for cl := range wins {
			got = append(got, cl)
		}
		if len(got) != 1 {
			t.Fatalf("step %s claimed %d times", key, len(got))
		}
		if got[0].Token <= 0 {
			t.Errorf("fencing token %d", got[0].Token)
		}
		if err := reps[1].CommitOutcome(ctx, got[0], []byte("ok")); err != nil {
			t.Fatalf("commit outcome: %v", err)
		}
		_, err := reps[0].Claim(ctx, key, "late", 0)
		var ce *fbetcd.ClaimedError
		if !errors.As(err, &ce) || !ce.Done || ce.Owner != got[0].Owner {
			t.Fatalf("claim after the outcome = %v, want done by %s", err, got[0].Owner)
		}
	}
}

// Fencing: a replica whose lease is revoked mid-step cannot commit its
// outcome, and the step is not claimable again (it was interrupted).
func TestRevokedLeaseFencesTheOutcome(t *testing.T) {
	c := sharedCluster(t)
	a, b := c.open(t, nil), c.open(t, nil)
	ctx := context.Background()
	lease, err := a.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := a.Claim(ctx, "ev-1|restart|steps|0", "replica-a", lease)
	if err != nil {
		t.Fatal(err)
	}
	// Mid-step, the lease goes (as after a GC pause or a partition):
	// revoke it through the etcd client, not through the store.
	if _, err := rawClient(t, c).Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	err = a.CommitOutcome(ctx, cl, []byte("restarted"))
	if !errors.Is(err, fbetcd.ErrFenced) {
		t.Fatalf("commit after revocation = %v, want ErrFenced", err)
	}
	if out, err := b.Outcome(ctx, cl.Key); err != nil || out != nil {
		t.Fatalf("outcome stored anyway: %q, %v", out, err)
	}
	lease2, err := b.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Claim(ctx, cl.Key, "replica-b", lease2)
	var ce *fbetcd.ClaimedError
	if !errors.As(err, &ce) || ce.Held || ce.Done || ce.Owner != "replica-a" {
		t.Fatalf("claim by the other replica = %v, want interrupted, owned by replica-a", err)
	}
	// A forged token cannot commit either.
	lease3, _ := b.Grant(ctx, 30)
	cl2, err := b.Claim(ctx, "ev-2|restart|steps|0", "replica-b", lease3)
	if err != nil {
		t.Fatal(err)
	}
	forged := cl2
	forged.Token++
	if err := b.CommitOutcome(ctx, forged, nil); !errors.Is(err, fbetcd.ErrFenced) {
		t.Fatalf("commit with a wrong token = %v, want ErrFenced", err)
	}
	if err := b.CommitOutcome(ctx, cl2, []byte("ok")); err != nil {
		t.Fatalf("commit with the right token: %v", err)
	}
}

// Quorum: with one member of three stopped appends still succeed; with
// two stopped they fail with an error, never a silent success.
func TestQuorumLoss(t *testing.T) {
	c := startCluster(t, false)
	s := c.open(t, func(cfg *fbetcd.Config) { cfg.RequestTimeout = 2 * time.Second })
	ctx := context.Background()
	if _, err := s.AppendEvents(ctx, []event.Event{alert("before")}); err != nil {
		t.Fatal(err)
	}
	c.stop(0)
	for i := range 20 {
		seqs, err := s.AppendEvents(ctx, []event.Event{alert(fmt.Sprintf("one-down-%d", i))})
		if err != nil || seqs[0] == 0 {
			t.Fatalf("append %d with one member down = %v, %v", i, seqs, err)
		}
	}
	c.stop(1)
	seqs, err := s.AppendEvents(ctx, []event.Event{alert("two-down")})
	if err == nil {
		t.Fatalf("append with two members of three down succeeded: %v", seqs)
	}
	t.Logf("with two members down: %v", err)
}

// Pausing on one replica is seen by the other through the watch.
func TestKillSwitchIsWatched(t *testing.T) {
	c := sharedCluster(t)
	a, b := c.open(t, nil), c.open(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.WatchKillSwitch(ctx)
	next := func() fbetcd.KillSwitch {
		t.Helper()
		select {
		case k := <-ch:
			return k
		case <-time.After(10 * time.Second):
			t.Fatal("no kill switch change seen within 10s")
		}
		return fbetcd.KillSwitch{}
	}
	if k := next(); k.On {
		t.Fatalf("initial state = %+v, want off", k)
	}
	if err := a.SetKillSwitch(ctx, true, "api:oncall"); err != nil {
		t.Fatal(err)
	}
	if k := next(); !k.On || k.By != "api:oncall" {
		t.Fatalf("after pause = %+v", k)
	}
	if err := a.SetKillSwitch(ctx, false, ""); err != nil {
		t.Fatal(err)
	}
	if k := next(); k.On {
		t.Fatalf("after resume = %+v", k)
	}
	if k, _, err := b.KillSwitchState(ctx); err != nil || k.On {
		t.Fatalf("state = %+v, %v", k, err)
	}
}

// After Close nothing is acknowledged.
func TestAppendAfterClose(t *testing.T) {
	c := sharedCluster(t)
	s := c.open(t, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := s.AppendEvents(context.Background(), []event.Event{alert("late")}); !errors.Is(err, fbetcd.ErrClosed) {
			t.Fatalf("append after Close = %v, want ErrClosed", err)
		}
	}
}

// Replicas accepting at once do not serialise on the sequence counter:
// each reserves a block of numbers with one write and numbers its events
// from it, so 600 appends over three replicas move the counter a handful
// of times (one block per replica), not once per commit; and each
// replica's own events come out of Pending in sequence order.
func TestReplicasNumberFromTheirOwnBlocks(t *testing.T) {
	c := sharedCluster(t)
	reps := []*fbetcd.Store{c.open(t, nil), c.open(t, nil), c.open(t, nil)}
	ctx := context.Background()
	const perReplica, workers = 200, 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[uint64]bool{}
		errs = make(chan error, 3*workers)
	)
	for r, s := range reps {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < perReplica; i += workers {
					seqs, err := s.AppendEvents(ctx, []event.Event{alert(fmt.Sprintf("r%d-%03d", r, i))})
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if seen[seqs[0]] || seqs[0] == 0 {
						errs <- fmt.Errorf("sequence %d given twice (or 0 for a new event)", seqs[0])
					}
					seen[seqs[0]] = true
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	resp, err := rawClient(t, c).Get(ctx, c.prefix+"/meta/seq")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read the counter: %v, %d keys", err, len(resp.Kvs))
	}
	// One block of 1024 per replica holds its 200 events. Without blocks
	// the counter moves on every commit: hundreds of versions.
	if v := resp.Kvs[0].Version; v > 3 {
		t.Errorf("the counter was written %d times for %d appends over 3 replicas; want one block per replica", v, 3*perReplica)
	}
	for i, s := range reps {
		got, err := s.Pending(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != perReplica {
			t.Errorf("replica %d: Pending returned %d events, want %d", i, len(got), perReplica)
		}
		if !slices.IsSorted(got) {
			t.Errorf("replica %d: Pending returned its events out of sequence order: %v", i, got)
		}
	}
}
