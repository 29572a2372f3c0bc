package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks/playtest"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web/dashboard"
	"github.com/firebreak/firebreak/web/sources"
)

// dashboardDeps is what the dashboard (web/dashboard) needs of the app:
// the store (its audit trail, and its state for the sessions), the
// dashboard: section (cookies and session lifetime), the playbooks, the
// test box and the redactor. Package web mounts it and supplies the rest from its own parts: the sign-in is the
// API's token table, decisions and guard actions go through the same
// gate and guard as the API's.
func (a *App) dashboardDeps() *dashboard.Deps {
	deps := &dashboard.Deps{
		State:     a.DB,
		Audit:     a.DB,
		Timelines: dashTimelines{db: a.DB},
		Playbooks: a.Engine.Playbooks,
		Tester:    dashTester{a: a},
		Now:       a.opts.Now,
		Logger:    a.log.With("component", "dashboard"),
		// dashboard: (validated by config.Validate; 0 is the default 12h)
		SecureCookies: a.Config.Dashboard.SecureCookies,
		SessionTTL:    a.Config.Dashboard.SessionTTL.D(),
	}
	if a.res.Redactor != nil {
		deps.Redact = a.res.Redactor.Record
	}
	return deps
}

// dashTimelines reads timelines with TimelineOf, plus the raw payload.
type dashTimelines struct{ db store.Backend }

func (d dashTimelines) Timeline(ctx context.Context, id string) (dashboard.Timeline, error) {
	tl, err := TimelineOf(ctx, d.db, id)
	if errors.Is(err, store.ErrNotFound) {
		return dashboard.Timeline{}, fmt.Errorf("event %s: %w", id, dashboard.ErrNotFound)
	}
	if err != nil {
		return dashboard.Timeline{}, err
	}
	out := dashboard.Timeline{Records: tl.Records, Approvals: tl.Approvals}
	if tl.Event != nil {
		ev := tl.Event.Event
		out.Event = &ev
		if _, full, err := d.db.EventByID(ctx, id); err == nil {
			out.Raw = full.Raw
		}
	}
	return out, nil
}

// dashTester is the playbook test box: a built-in decoder, then the plan
// stage of playbooks/playtest. Nothing is stored and nothing runs.
type dashTester struct{ a *App }

func (t dashTester) Sources() []string {
	var names []string
	for n := range sources.Builtin() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (t dashTester) Test(_ context.Context, source string, payload []byte) (dashboard.TestResult, error) {
	dec, ok := sources.Builtin()[strings.TrimSpace(source)]
	if !ok {
		return dashboard.TestResult{}, fmt.Errorf("source %q: %w", source, dashboard.ErrUnknownSource)
	}
	now := t.a.opts.Now().UTC()
	events, err := dec.Decode(payload, now)
	if err != nil {
		return dashboard.TestResult{}, fmt.Errorf("the payload does not decode as %s: %w", source, err)
	}
	for i := range events {
		if events[i].ReceivedAt.IsZero() {
			events[i].ReceivedAt = now
		}
		events[i].Raw = nil
	}
	return t.plan(events), nil
}

// TestEvent plans a stored event again against the loaded playbooks.
func (t dashTester) TestEvent(ctx context.Context, id string) (dashboard.TestResult, error) {
	_, ev, err := t.a.DB.EventByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return dashboard.TestResult{}, fmt.Errorf("event %s: %w", id, dashboard.ErrNotFound)
	}
	if err != nil {
		return dashboard.TestResult{}, err
	}
	ev.Raw = nil
	return t.plan([]event.Event{ev}), nil
}

func (t dashTester) plan(events []event.Event) dashboard.TestResult {
	set := t.a.Engine.Playbooks()
	if set == nil {
		return dashboard.TestResult{Events: events, Decisions: make([]playtest.Decision, len(events))}
	}
	return dashboard.TestResult{Events: events, Decisions: playtest.Evaluate(set, t.a.Registry, events)}
}
