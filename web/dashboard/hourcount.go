package dashboard

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
)

// hourCounts are the overview's counters: events received, actions run
// (succeeded or failed) and steps refused in the last hour.
type hourCounts struct{ events, actions, refusals int }

func (h *hourCounts) add(k audit.Kind, n int) {
	switch k {
	case audit.KindReceived:
		h.events += n
	case audit.KindStepSucceeded, audit.KindStepFailed:
		h.actions += n
	case audit.KindStepRefused:
		h.refusals += n
	}
}

func (h *hourCounts) plus(o hourCounts) {
	h.events += o.events
	h.actions += o.actions
	h.refusals += o.refusals
}

// hourPage is how many records one read of the trail returns.
const hourPage = 1000

// hourCounter keeps the overview's last-hour counters without reading the
// hour again on every render. It reads the trail once from an hour back
// (the warm-up), then only the records committed after its cursor (the
// newest sequence it has counted), and adds each record to the count of
// the second its time falls in. It reads through the AuditLog like every
// page, so a clustered store, whose other replicas write records this one
// never commits, is counted as right as a single bbolt file.
//
// A count is exact for the window [now-1h, now]: the whole seconds inside
// come from the per-second counts, and the two partial seconds at the
// edges are read from the trail again (a second of records each).
type hourCounter struct {
	log  AuditLog
	now  func() time.Time
	logr *slog.Logger
	// budget is how long a render may spend catching up before it hands
	// the rest to the background and shows "counting…".
	budget time.Duration

	mu     sync.Mutex
	cursor uint64 // the newest sequence counted
	// secs are the counts per Unix second of the record's time; seconds
	// older than the window are dropped as the window moves.
	secs map[int64]*hourCounts
	// busy is set while run's catch-up reads; renders then show
	// "counting…" rather than wait for it.
	busy bool
	// kick asks run for a catch-up (one ask is held).
	kick chan struct{}
}

func newHourCounter(log AuditLog, now func() time.Time, logr *slog.Logger) *hourCounter {
	return &hourCounter{log: log, now: now, logr: logr, budget: 10 * time.Millisecond,
		secs: map[int64]*hourCounts{}, kick: make(chan struct{}, 1)}
}

// read reads the page of records after cursor: their heads only (the
// sequence, time and kind), which is all the counts need.
func (h *hourCounter) read(ctx context.Context, cursor uint64) ([]audit.Head, bool, error) {
	q := audit.Query{After: cursor, Since: h.now().Add(-time.Hour), Limit: hourPage}
	recs, next, err := h.log.AuditHeads(ctx, q)
	return recs, next == 0, err
}

// apply counts recs, read after the cursor; h.mu is held.
func (h *hourCounter) apply(recs []audit.Head) {
	for i := range recs {
		r := &recs[i]
		sec := r.Time.Unix()
		c := h.secs[sec]
		if c == nil {
			c = &hourCounts{}
			h.secs[sec] = c
		}
		c.add(r.Kind, 1)
		h.cursor = max(h.cursor, r.Seq)
	}
}

// step reads one page of records after the cursor and counts them; it
// reports whether the counter has caught up with the trail. h.mu is held.
func (h *hourCounter) step(ctx context.Context) (bool, error) {
	recs, done, err := h.read(ctx, h.cursor)
	if err != nil {
		return false, err
	}
	h.apply(recs)
	return done, nil
}

// catchUp counts pages until it caught up or the deadline passed; h.mu is
// held. It reports whether it caught up.
func (h *hourCounter) catchUp(ctx context.Context, deadline time.Time) (bool, error) {
	for {
		done, err := h.step(ctx)
		if err != nil || done {
			return done, err
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
	}
}

// background catches up one page at a time, letting renders in between
// (they show "counting…" until it is done). Only run calls it, on its own
// goroutine.
func (h *hourCounter) background(ctx context.Context) {
	h.mu.Lock()
	h.busy = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.busy = false
		h.mu.Unlock()
	}()
	for ctx.Err() == nil {
		// While busy is set only this goroutine moves the cursor, so the
		// read needs no lock and renders never wait for it.
		h.mu.Lock()
		cursor := h.cursor
		h.mu.Unlock()
		recs, done, err := h.read(ctx, cursor)
		h.mu.Lock()
		if err == nil {
			h.apply(recs)
		}
		h.mu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				h.logr.Warn("counting the last hour's audit records failed", "error", err)
			}
			return
		}
		if done {
			return
		}
	}
}

// hourTick is how often run catches up while nobody renders the overview,
// so that a render's own catch-up stays within its budget.
const hourTick = 5 * time.Second

// run counts the last hour at once (so the first render after the server
// starts finds the warm-up under way, not cold), then catches up every
// hourTick and whenever a render asks (one whose catch-up overran its
// budget), until ctx ends.
func (h *hourCounter) run(ctx context.Context) {
	t := time.NewTicker(hourTick)
	defer t.Stop()
	for {
		h.background(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
	}
}

// counts returns the last hour's counts, or ok false while run's warm-up
// or a long catch-up is under way (the page shows "counting…" and polls).
func (h *hourCounter) counts(ctx context.Context) (hourCounts, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy {
		return hourCounts{}, false, nil
	}
	done, err := h.catchUp(ctx, time.Now().Add(h.budget))
	if err != nil {
		return hourCounts{}, false, err
	}
	if !done {
		select {
		case h.kick <- struct{}{}:
			return hourCounts{}, false, nil // run catches up
		default:
			// The last ask is still unanswered: run is not running (a test
			// mounting the dashboard alone), so the render catches up
			// itself, however long the hour is.
			if _, err := h.catchUp(ctx, time.Now().Add(time.Hour)); err != nil {
				return hourCounts{}, false, err
			}
		}
	}
	now := h.now()
	from := now.Add(-time.Hour)
	lo, hi := from.Unix(), now.Unix()
	for s := range h.secs {
		if s < lo {
			delete(h.secs, s)
		}
	}
	var total hourCounts
	for s, c := range h.secs {
		if s > lo && s < hi {
			total.plus(*c)
		}
	}
	// The edges: [from, the next whole second) and [now's second, now].
	edge, err := h.countRange(ctx, from, time.Unix(lo+1, 0))
	if err != nil {
		return hourCounts{}, false, err
	}
	total.plus(edge)
	if edge, err = h.countRange(ctx, time.Unix(hi, 0), now.Add(time.Nanosecond)); err != nil {
		return hourCounts{}, false, err
	}
	total.plus(edge)
	return total, true, nil
}

// countRange counts the records with since ≤ time < until by reading them.
func (h *hourCounter) countRange(ctx context.Context, since, until time.Time) (hourCounts, error) {
	var c hourCounts
	q := audit.Query{Since: since, Until: until, Limit: hourPage}
	for {
		recs, next, err := h.log.AuditHeads(ctx, q)
		if err != nil {
			return c, err
		}
		for i := range recs {
			c.add(recs[i].Kind, 1)
		}
		if next == 0 {
			return c, nil
		}
		q.After = next
	}
}
