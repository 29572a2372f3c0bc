package dashboard

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/store"
)

type hourClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *hourClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *hourClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var hourKinds = []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepStarted, audit.KindStepSucceeded,
	audit.KindStepFailed, audit.KindStepRefused, audit.KindStepSkipped, audit.KindAuthFailed}

// auditWriter appends records: *store.DB and the etcd store.
type auditWriter interface {
	Audit(ctx context.Context, recs ...audit.Record) error
}

// bruteHour counts the overview's kinds in [now-1h, now] by reading every
// record of the store.
func bruteHour(t *testing.T, db AuditLog, now time.Time) hourCounts {
	t.Helper()
	var c hourCounts
	q := audit.Query{Limit: 1000}
	n := 0
	for {
		recs, next, err := db.ListAudit(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			n++
			if r := &recs[i]; !r.Time.Before(now.Add(-time.Hour)) && !r.Time.After(now) {
				c.add(r.Kind, 1)
			}
		}
		if next == 0 {
			break
		}
		q.After = next
	}
	if n == 0 {
		t.Fatal("the brute-force count read no record")
	}
	return c
}

// writeSpread writes n records of mixed kinds with increasing times from
// from to to, plus records on the window's edges as seen from edge: at
// edge-1h-1ns (too old), edge-1h (the oldest that counts) and edge.
func writeSpread(t *testing.T, db auditWriter, rng *rand.Rand, n int, from, to, edge time.Time) {
	t.Helper()
	var recs []audit.Record
	step := to.Sub(from) / time.Duration(n)
	for i := 0; i < n; i++ {
		// A jitter inside the step keeps the times increasing but off the
		// whole seconds.
		at := from.Add(time.Duration(i)*step + time.Duration(rng.Int64N(int64(step))))
		recs = append(recs, audit.Record{Time: at, Kind: hourKinds[rng.IntN(len(hourKinds))], EventID: "e", Source: "test"})
	}
	for _, at := range []time.Time{edge.Add(-time.Hour - time.Nanosecond), edge.Add(-time.Hour), edge} {
		for _, k := range []audit.Kind{audit.KindReceived, audit.KindStepSucceeded, audit.KindStepFailed, audit.KindStepRefused} {
			recs = append(recs, audit.Record{Time: at, Kind: k, EventID: "edge", Source: "test"})
		}
	}
	// The store keeps times increasing: write in time order.
	slices.SortStableFunc(recs, func(a, b audit.Record) int { return a.Time.Compare(b.Time) })
	// In chunks: an etcd transaction holds a bounded number of operations.
	for len(recs) > 0 {
		n := min(len(recs), 40)
		if err := db.Audit(context.Background(), recs[:n]...); err != nil {
			t.Fatal(err)
		}
		recs = recs[n:]
	}
}

// The last-hour counters equal a brute-force count over a real bbolt store
// whose records span more than an hour, as the clock moves and records
// arrive: records older than an hour do not count, the window's edges are
// exact to the nanosecond, and a warm-up done in the background (a budget
// of zero) counts the same.
func TestHourCountsMatchBruteForce(t *testing.T) {
	ctx := context.Background()
	clock := &hourClock{t: time.Date(2026, 12, 1, 12, 0, 0, 400_000_000, time.UTC)}
	db, err := store.Open(filepath.Join(t.TempDir(), "firebreak.db"), store.Options{Now: clock.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := clock.Now()
	writeSpread(t, db, rng, 5000, t0.Add(-3*time.Hour), t0.Add(-time.Millisecond), t0)

	check := func(what string, h *hourCounter) {
		t.Helper()
		got, ok, err := h.counts(ctx)
		if err != nil || !ok {
			t.Fatalf("%s: counts: ok %v, %v", what, ok, err)
		}
		want := bruteHour(t, db, clock.Now())
		if got != want {
			t.Fatalf("%s: counted %+v, brute force %+v", what, got, want)
		}
		if want.events == 0 || want.actions == 0 || want.refusals == 0 {
			t.Fatalf("%s: the window holds too few records to tell: %+v", what, want)
		}
	}

	h := newHourCounter(db, clock.Now, slog.New(slog.DiscardHandler))
	h.budget = time.Minute // synchronous: the test wants the counts now
	check("first render", h)

	// Another counter starts cold with no render budget and no run: the
	// first render asks run to count and shows "counting…"; the next one,
	// finding that ask unanswered, counts itself.
	cold := newHourCounter(db, clock.Now, slog.New(slog.DiscardHandler))
	cold.budget = 0
	if _, ok, err := cold.counts(ctx); ok || err != nil {
		t.Fatalf("a cold counter with no budget: ok %v, %v; want counting", ok, err)
	}
	check("the cold counter's second render", cold)

	// 25 minutes later, with 2,000 more records written since: the oldest
	// records leave the window, the new ones join it.
	t1 := t0.Add(25*time.Minute + 300*time.Millisecond)
	writeSpread(t, db, rng, 2000, t0, t1.Add(-time.Millisecond), t1)
	clock.Set(t1)
	check("25 minutes later", h)
	check("25 minutes later, the other counter", cold)

	// On a whole second, the edge second is entirely inside the window.
	t2 := t1.Add(10 * time.Minute).Truncate(time.Second)
	writeSpread(t, db, rng, 500, t1, t2.Add(-time.Millisecond), t2)
	clock.Set(t2)
	check("on a whole second", h)

	// Two hours on, nothing new: every count is zero.
	clock.Set(t2.Add(2 * time.Hour))
	if got, ok, err := h.counts(ctx); err != nil || !ok || got != (hourCounts{}) {
		t.Fatalf("two hours later: %+v ok %v %v, want zeros", got, ok, err)
	}
	if len(h.secs) > 0 {
		t.Fatalf("the counter keeps %d seconds older than the window", len(h.secs))
	}
}

// run counts the last hour at once, without a render asking; a render
// whose catch-up overruns its budget shows "counting…" and run catches up
// for it; run returns when its context ends.
func TestHourCounterRun(t *testing.T) {
	clock := &hourClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	db, err := store.Open(filepath.Join(t.TempDir(), "firebreak.db"), store.Options{Now: clock.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := clock.Now()
	writeSpread(t, db, rng, 3000, t0.Add(-2*time.Hour), t0.Add(-time.Second), t0)
	h := newHourCounter(db, clock.Now, slog.New(slog.DiscardHandler))
	h.budget = 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	// waitCaughtUp waits until run has counted up to the trail's newest
	// record and stopped reading.
	waitCaughtUp := func(what string) {
		t.Helper()
		recs, _, err := db.ListAudit(context.Background(), audit.Query{Since: clock.Now().Add(-time.Second), Limit: 1000})
		if err != nil || len(recs) == 0 {
			t.Fatalf("the newest records: %d, %v", len(recs), err)
		}
		newest := recs[len(recs)-1].Seq
		deadline := time.Now().Add(20 * time.Second)
		for {
			h.mu.Lock()
			caught := h.cursor >= newest && !h.busy
			h.mu.Unlock()
			if caught {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: run did not catch up in 20s", what)
			}
			select {
			case <-time.After(time.Millisecond):
			case <-done:
				t.Fatalf("%s: run returned before its context ended", what)
			}
		}
	}
	waitCaughtUp("the warm-up")
	got, ok, err := h.counts(context.Background())
	if want := bruteHour(t, db, clock.Now()); err != nil || !ok || got != want {
		t.Fatalf("after run's warm-up: %+v ok %v %v, want %+v", got, ok, err, want)
	}

	t1 := t0.Add(10 * time.Minute)
	writeSpread(t, db, rng, 3000, t0, t1.Add(-time.Second), t1)
	clock.Set(t1)
	if _, ok, err := h.counts(context.Background()); ok || err != nil {
		t.Fatalf("a render with no budget and 3,000 new records: ok %v, %v; want counting", ok, err)
	}
	waitCaughtUp("the render's ask")
	got, ok, err = h.counts(context.Background())
	if want := bruteHour(t, db, clock.Now()); err != nil || !ok || got != want {
		t.Fatalf("after run caught up for the render: %+v ok %v %v, want %+v", got, ok, err, want)
	}
	cancel()
	<-done
}

// headsOnly is an AuditLog over a real store that counts the full reads
// the counter makes.
type headsOnly struct {
	*store.DB
	mu        sync.Mutex
	listAudit int
}

func (h *headsOnly) ListAudit(ctx context.Context, q audit.Query) ([]audit.Record, uint64, error) {
	h.mu.Lock()
	h.listAudit++
	h.mu.Unlock()
	return h.DB.ListAudit(ctx, q)
}

// The counter reads the trail through AuditHeads only: neither its
// warm-up and catch-ups (run) nor a render's edge seconds decode whole
// records, which cost the server a full JSON decode of every record it
// writes, every few seconds, whether anybody looked or not (issue 18's
// profile). Its counts stay those of a brute-force count.
func TestHourCounterReadsOnlyHeads(t *testing.T) {
	clock := &hourClock{t: time.Date(2026, 12, 1, 12, 0, 0, 250_000_000, time.UTC)}
	db, err := store.Open(filepath.Join(t.TempDir(), "firebreak.db"), store.Options{Now: clock.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	rng := rand.New(rand.NewPCG(7, 8))
	t0 := clock.Now()
	writeSpread(t, db, rng, 2000, t0.Add(-90*time.Minute), t0.Add(-time.Millisecond), t0)
	log := &headsOnly{DB: db}
	h := newHourCounter(log, clock.Now, slog.New(slog.DiscardHandler))
	h.budget = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	got, ok, err := h.counts(context.Background())
	for deadline := time.Now().Add(20 * time.Second); !ok && err == nil; got, ok, err = h.counts(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatal("the counts did not show in 20s")
		}
		<-time.After(time.Millisecond) // the warm-up under way
	}
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if want := bruteHour(t, db, clock.Now()); got != want {
		t.Fatalf("counted %+v, brute force %+v", got, want)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.listAudit != 0 {
		t.Fatalf("the counter decoded whole records %d times", log.listAudit)
	}
}
