package app

import (
	"context"
	"errors"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/metrics"
)

// retention returns the store policy; ok is false when nothing expires.
func retention(c config.RetentionConfig) (store.Retention, bool) {
	r := store.Retention{MaxAge: time.Duration(c.MaxAge), MaxRecords: c.MaxRecords, MaxBytes: c.MaxBytes, InboxMaxAge: time.Duration(c.InboxMaxAge),
		ForgetEvent: forgetEvent, Sweep: engine.SweepForgotten}
	if r.InboxMaxAge == 0 {
		r.InboxMaxAge = r.MaxAge
	}
	return r, r.MaxAge > 0 || r.MaxRecords > 0 || r.MaxBytes > 0 || r.InboxMaxAge > 0
}

// forgetEvent drops what the engine and the dead-letter queue keep about
// an event retention removes.
func forgetEvent(tx state.Tx, eventID string) error {
	if err := engine.ForgetEvent(tx, eventID); err != nil {
		return err
	}
	return store.ForgetDLQ(tx, eventID)
}

// setupMetrics wires the metrics feature before the engine is built: the
// Prometheus registry and engine observer, the audit redactor, the store's
// audit observer, and the retention job.
func setupMetrics(a *App) error {
	if red := a.res.Redactor; red != nil {
		a.DB.SetRedactor(red.Record)
	}
	if err := setupAnchor(a); err != nil {
		return err
	}

	m := metrics.New(metrics.Config{InboxDepth: a.DB.PendingCount, AuditBytes: a.DB.AuditBytes, Logger: a.log.With("component", "metrics")})
	a.metrics = m

	// Every committed audit record is counted by kind (and reloads by
	// result); the approval gate reports its decisions itself (setupApprovals).
	a.DB.SetAuditObserver(m)
	m.SetPendingApprovals(func(ctx context.Context) (int, error) { return countPendingApprovals(ctx, a.DB) })
	m.SetDLQEntries(a.DB.DLQCount)

	if pol, ok := retention(a.Config.Audit.Retention); ok {
		every := time.Duration(a.Config.Audit.Retention.Interval)
		if every <= 0 {
			every = time.Hour
		}
		a.GoLeader(func(ctx context.Context) { runRetention(ctx, a, m, pol, every) })
	}
	return nil
}

// initMetrics names the sources and playbooks the counters start at zero
// for, and reads breakers from the guard.
func (a *App) initMetrics(set *playbooks.Set) {
	m := a.metrics
	var names []string
	for name := range a.Config.Sources {
		names = append(names, name)
	}
	m.InitSources(append(names, "alertmanager")...)
	for _, p := range set.Playbooks {
		m.InitPlaybooks(p.Name)
	}
	g := a.guard
	m.SetBreakers(func(ctx context.Context) ([]metrics.Breaker, error) {
		list, err := g.Breakers(ctx)
		out := make([]metrics.Breaker, len(list))
		for i, b := range list {
			out[i] = metrics.Breaker{Playbook: b.Playbook, State: b.State}
		}
		return out, err
	})
}

func countPendingApprovals(ctx context.Context, db store.Backend) (int, error) {
	list, err := approval.List(ctx, db, approval.Filter{PendingOnly: true})
	return len(list), err
}

// runRetention applies the retention policy now and then every interval.
func runRetention(ctx context.Context, a *App, m *metrics.Metrics, pol store.Retention, every time.Duration) {
	log := a.log.With("component", "retention")
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := a.DB.Compact(ctx, pol)
		m.Compacted(res.AuditRemoved, res.InboxRemoved)
		switch {
		case err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, store.ErrClosed):
			log.Error("retention failed", "error", err)
		case res.AuditRemoved > 0 || res.InboxRemoved > 0 || res.Swept > 0:
			log.Info("retention removed old data", "audit_records", res.AuditRemoved, "inbox_events", res.InboxRemoved, "resolve_marks", res.Swept)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Timeline is web.Timeline: an incident's history.
type Timeline = web.Timeline

// TimelineEvent is web.TimelineEvent.
type TimelineEvent = web.TimelineEvent

// ReplayRequest is web.ReplayRequest, the body of POST /api/v1/replay.
type ReplayRequest = web.ReplayRequest

// TimelineOf reads the timeline of the event id from db (the server's
// store, or one the CLI opened read-only). It returns store.ErrNotFound
// when neither the trail nor the inbox knows the event.
func TimelineOf(ctx context.Context, db store.Backend, id string) (Timeline, error) {
	return web.TimelineOf(ctx, db, id, store.ErrNotFound)
}

// ParseSince reads RFC 3339 or a duration meaning "that long before now";
// see web.ParseSince.
func ParseSince(v string, now time.Time, def time.Duration) (time.Time, error) {
	return web.ParseSince(v, now, def)
}
