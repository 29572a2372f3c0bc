package dashboard

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

func storedSessions(t *testing.T, st StateStore) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	if err := st.View(context.Background(), func(tx state.Tx) error {
		return tx.ForEach(sessionBucket, func(k string, _ []byte) error { keys[k] = true; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// Expired sessions go from the store: the one a request finds at once,
// the others at the next prune, which also keeps at most max sessions
// (those that expire last).
func TestSessionsPruned(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "fb.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	clock := &hourClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	s := newSessions(db, time.Hour, clock.Now)
	s.max = 3
	var cookies []string
	for i := 0; i < 6; i++ { // one every 10 minutes: expiring 13:00, 13:10, … 13:50
		v, _, err := s.create(ctx, Identity{Name: "alice", Roles: []Role{RoleViewer}, Credential: "c"})
		if err != nil {
			t.Fatal(err)
		}
		cookies = append(cookies, v)
		clock.Set(clock.Now().Add(10 * time.Minute))
	}
	clock.Set(time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)) // the first has just expired
	if got, err := s.get(ctx, cookies[0]); err != nil || got != nil {
		t.Fatalf("an expired session: %+v, %v", got, err)
	}
	if storedSessions(t, db)[sessionKey(cookies[0])] {
		t.Fatal("the expired session a request found is still stored")
	}
	if got, err := s.get(ctx, cookies[1]); err != nil || got == nil || got.id.Name != "alice" || got.csrf == "" {
		t.Fatalf("a live session: %+v, %v", got, err)
	}
	clock.Set(time.Date(2026, 12, 1, 13, 10, 0, 0, time.UTC)) // the second expires
	n, err := s.prune(ctx)
	if err != nil || n != 2 { // the expired second, and the third beyond max
		t.Fatalf("prune deleted %d (%v), want 2", n, err)
	}
	left := storedSessions(t, db)
	if len(left) != 3 {
		t.Fatalf("%d sessions left, want 3", len(left))
	}
	for _, v := range cookies[3:] {
		if !left[sessionKey(v)] {
			t.Fatalf("a session that expires last was pruned: %v", left)
		}
	}
	if err := s.drop(ctx, cookies[5]); err != nil || storedSessions(t, db)[sessionKey(cookies[5])] {
		t.Fatalf("drop left the session stored (%v)", err)
	}

	// Run prunes on its own, at once when it starts.
	clock.Set(time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)) // all expired
	d := &Dashboard{sessions: s, log: slog.New(slog.DiscardHandler)}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.runPrune(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(storedSessions(t, db)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("runPrune left %d expired sessions", len(storedSessions(t, db)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
