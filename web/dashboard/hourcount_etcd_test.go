package dashboard

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/firebreak/firebreak/internal/etcdtest"
	fbetcd "github.com/firebreak/firebreak/store/etcd"
)

// startEtcd starts a one-member etcd and returns its client URL; it stops
// when the test ends.
func startEtcd(t *testing.T) string { return etcdtest.One(t, nil) }

// In clustered mode the counter on one replica counts the records another
// replica appended (which this replica's audit observer is never told of):
// it reads the shared trail, and equals a brute-force count over it.
func TestHourCountsAcrossEtcdReplicas(t *testing.T) {
	endpoint := startEtcd(t)
	clock := &hourClock{t: time.Date(2026, 12, 1, 12, 0, 0, 700_000_000, time.UTC)}
	open := func(node string) *fbetcd.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := fbetcd.Open(ctx, fbetcd.Config{Endpoints: []string{endpoint}, Prefix: "/fb-dash", Node: node,
			RequestTimeout: 5 * time.Second, SessionTTL: 2 * time.Second, Now: clock.Now})
		if err != nil {
			t.Fatalf("open replica %s: %v", node, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open("replica-a"), open("replica-b")
	rng := rand.New(rand.NewPCG(5, 6))
	t0 := clock.Now()
	writeSpread(t, b, rng, 1500, t0.Add(-2*time.Hour), t0.Add(-time.Millisecond), t0)

	h := newHourCounter(a, clock.Now, slog.New(slog.DiscardHandler))
	h.budget = time.Minute
	check := func(what string) {
		t.Helper()
		got, ok, err := h.counts(context.Background())
		want := bruteHour(t, a, clock.Now())
		if err != nil || !ok || got != want {
			t.Fatalf("%s: counted %+v (ok %v, %v), brute force %+v", what, got, ok, err, want)
		}
		if want.events == 0 || want.actions == 0 || want.refusals == 0 {
			t.Fatalf("%s: the window holds too few records to tell: %+v", what, want)
		}
	}
	check("replica a, records of replica b")
	// More records, again by the other replica, 20 minutes later.
	t1 := t0.Add(20 * time.Minute)
	writeSpread(t, b, rng, 500, t0, t1.Add(-time.Millisecond), t1)
	clock.Set(t1)
	check("20 minutes later")
}

// Pruning deletes in chunks: etcd refuses a transaction of more than 128
// operations, so one delete of every expired session would fail for ever
// and the table would grow without bound.
func TestSessionsPrunedOnEtcd(t *testing.T) {
	ctx := context.Background()
	st, err := fbetcd.Open(ctx, fbetcd.Config{Endpoints: []string{startEtcd(t)}, Prefix: "/prune", Node: "n1", SessionTTL: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := newSessions(st, time.Hour, clock)
	const n = 300
	for range n {
		if _, _, err := s.create(ctx, Identity{Name: "alice", Roles: []Role{RoleViewer}, Credential: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Hour)
	got, err := s.prune(ctx)
	if err != nil || got != n {
		t.Fatalf("prune = %d, %v; want %d deleted", got, err, n)
	}
	if got, err := s.prune(ctx); err != nil || got != 0 {
		t.Fatalf("a second prune = %d, %v; want nothing left", got, err)
	}
}
