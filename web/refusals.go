package web

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/firebreak/firebreak/engine/audit"
)

// Refusal aggregation and the per-address refusal budget. Every refused
// request would otherwise be one synced audit commit, kept for the
// retention period: an unauthenticated caller could fill the disk.
const (
	// DefaultRefusalInterval is the aggregation window of auth.failed
	// records.
	DefaultRefusalInterval = time.Minute
	// refusalBurst refusals an address may have answered in full (read,
	// authenticated, refused) before it is answered 429 unread.
	refusalBurst = 20
	// refusalRate refills that budget: one refusal a second.
	refusalRate = rate.Limit(1)
	// maxRefusalWindows bounds the (source, address) windows open at once;
	// refusals beyond it share one window per source.
	maxRefusalWindows = 256
	// maxRefusalBudgets bounds the addresses whose budget is tracked; an
	// address beyond it is never answered 429 unread (its refusals still
	// aggregate).
	maxRefusalBudgets = 10000
)

// ReasonTooManyRefusals is the metric label and audit reason of a request
// answered 429 before authentication because its address was refused too
// often.
const ReasonTooManyRefusals = "too_many_refusals"

// refusalKey is what one window aggregates: a source, the actor (the
// client's address, or an API token's name) and the audit outcome.
type refusalKey struct{ source, actor, outcome string }

type refusalWindow struct {
	start, last time.Time
	// pending counts the refusals not yet recorded, by reason.
	pending map[string]int
	total   int
	message string
}

// refusals aggregates refused requests into auth.failed records: the first
// refusal of a (source, address) in an interval is recorded at once, the
// rest are counted and recorded as one record when the interval ends.
type refusals struct {
	interval time.Duration
	now      func() time.Time
	emit     func(audit.Record)

	mu      sync.Mutex
	windows map[refusalKey]*refusalWindow
	budgets map[string]*rate.Limiter
}

func newRefusals(interval time.Duration, now func() time.Time, emit func(audit.Record)) *refusals {
	if interval <= 0 {
		interval = DefaultRefusalInterval
	}
	if emit == nil {
		emit = func(audit.Record) {}
	}
	return &refusals{interval: interval, now: now, emit: emit,
		windows: map[refusalKey]*refusalWindow{}, budgets: map[string]*rate.Limiter{}}
}

// blocked reports whether addr has spent its refusal budget, and when it
// may try again. It spends nothing.
func (r *refusals) blocked(addr string) (bool, time.Duration) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.budgets[addr]
	if b == nil {
		return false, 0
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration(math.Ceil((1 - tokens) / float64(refusalRate) * float64(time.Second)))
}

// refuse counts one refused request of a webhook source from addr. spend
// takes one from the address's budget (a request that was read and
// authenticated); a request answered 429 unread does not spend.
func (r *refusals) refuse(source, addr, reason, message string, spend bool) {
	r.refuseAs(refusalKey{source: source, actor: addr, outcome: "unauthorized"}, addr, reason, message, spend)
}

// refuseAs counts one refused request into k's window; addr is the
// address whose budget spend takes from.
func (r *refusals) refuseAs(k refusalKey, addr, reason, message string, spend bool) {
	now := r.now()
	var out []audit.Record
	r.mu.Lock()
	if spend {
		b := r.budgets[addr]
		if b == nil && len(r.budgets) < maxRefusalBudgets {
			b = rate.NewLimiter(refusalRate, refusalBurst)
			r.budgets[addr] = b
		}
		if b != nil {
			b.AllowN(now, 1)
		}
	}
	w := r.windows[k]
	if w != nil && now.Sub(w.start) >= r.interval {
		out = r.close(out, k, w)
		w = nil
	}
	if w == nil && len(r.windows) >= maxRefusalWindows {
		k.actor = "" // too many clients: one window for the rest
		w = r.windows[k]
		if w != nil && now.Sub(w.start) >= r.interval {
			out = r.close(out, k, w)
			w = nil
		}
	}
	if w == nil {
		r.windows[k] = &refusalWindow{start: now, last: now, total: 1, pending: map[string]int{}}
		out = append(out, audit.Record{Kind: audit.KindAuthFailed, Source: k.source, Outcome: k.outcome,
			Message: message, Actor: actor(k.actor), Data: map[string]any{"reason": reason, "count": 1}})
	} else {
		w.pending[reason]++
		w.total++
		w.last, w.message = now, message
	}
	r.mu.Unlock()
	for _, rec := range out {
		r.emit(rec)
	}
}

func actor(who string) string {
	if who == "" {
		return "many addresses"
	}
	return who
}

// close removes a window and appends the record of its uncounted
// refusals, if any. The caller holds mu.
func (r *refusals) close(out []audit.Record, k refusalKey, w *refusalWindow) []audit.Record {
	delete(r.windows, k)
	n := 0
	reasons := map[string]any{}
	for reason, c := range w.pending {
		n += c
		reasons[reason] = c
	}
	if n == 0 {
		return out
	}
	return append(out, audit.Record{Kind: audit.KindAuthFailed, Source: k.source, Outcome: k.outcome, Actor: actor(k.actor),
		Message: fmt.Sprintf("%d more refused requests from %s in %s (last: %s)", n, actor(k.actor), r.interval, w.message),
		Data: map[string]any{"count": n, "reasons": reasons, "aggregated": true,
			"first_at": w.start.UTC().Format(time.RFC3339Nano), "last_at": w.last.UTC().Format(time.RFC3339Nano)}})
}

// flush records the windows whose interval has ended (every window when
// all is set) and forgets the budgets that are full again.
func (r *refusals) flush(all bool) {
	now := r.now()
	var out []audit.Record
	r.mu.Lock()
	keys := make([]refusalKey, 0, len(r.windows))
	for k, w := range r.windows {
		if all || now.Sub(w.start) >= r.interval {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return r.windows[keys[i]].start.Before(r.windows[keys[j]].start)
	})
	for _, k := range keys {
		out = r.close(out, k, r.windows[k])
	}
	for addr, b := range r.budgets {
		if b.TokensAt(now) >= refusalBurst {
			delete(r.budgets, addr)
		}
	}
	r.mu.Unlock()
	for _, rec := range out {
		r.emit(rec)
	}
}

// run flushes ended windows until ctx ends, then flushes the rest.
func (r *refusals) run(ctx context.Context) {
	t := time.NewTicker(r.interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flush(true)
			return
		case <-t.C:
			r.flush(false)
		}
	}
}
