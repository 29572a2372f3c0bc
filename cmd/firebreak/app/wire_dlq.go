package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
)

// dlqSink puts steps that failed for good into the store's dead-letter
// queue, redacted as the audit record is.
type dlqSink struct {
	redact func(audit.Record) audit.Record
}

// DeadLetter implements engine.DeadLetter.
func (s dlqSink) DeadLetter(tx state.Tx, p *engine.Plan, r audit.Record) error {
	if s.redact != nil {
		r = s.redact(r)
	}
	attempts, _ := r.Data["attempts"].(int)
	return store.PutDLQ(tx, store.DLQEntry{
		Key: p.Key(), EventID: p.Event.ID, Seq: p.Seq, Playbook: p.Playbook.Name, Phase: p.Phase, Step: p.Step.Index,
		Action: p.Step.Action, Target: r.Target, Error: r.Message, Attempts: attempts, FailedAt: tx.Now().UTC(),
	})
}

// dlqRetry is a released step waiting to run again.
type dlqRetry struct {
	seq                    uint64
	playbook, phase, actor string
	step                   int
	// forced is set when the operator forced the retry of a stale
	// event's step.
	forced bool
}

// dlqService is the dead-letter API over the store and the engine.
type dlqService struct {
	a       *App
	maxAge  time.Duration
	retries chan dlqRetry
}

// newDLQService builds the dead-letter service the API serves (web.Config
// DLQ) and starts its retry worker with the app's background work.
func newDLQService(a *App) *dlqService {
	s := &dlqService{a: a, maxAge: a.res.MaxEventAge, retries: make(chan dlqRetry, 64)}
	a.Go(s.run)
	return s
}

// run executes released steps one at a time until the app closes.
func (s *dlqService) run(ctx context.Context) {
	log := s.a.log.With("component", "dlq")
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-s.retries:
			var err error
			if r.forced {
				// The operator chose to act on a stale event: the engine
				// must not refuse it as stale at step time.
				err = s.a.Engine.ContinueStale(ctx, r.seq, r.playbook, r.phase, r.step)
			} else {
				err = s.a.Engine.Continue(ctx, r.seq, r.playbook, r.phase, r.step, "")
			}
			if err != nil {
				log.Error("dead-letter retry failed to run", "playbook", r.playbook, "step", r.step, "error", err)
			}
		}
	}
}

// stale reports whether ev is older than max_event_age (as at ingest).
func (s *dlqService) stale(ev event.Event) bool {
	return s.maxAge > 0 && ev.Status == event.StatusFiring && !ev.StartsAt.IsZero() && s.a.opts.Now().Sub(ev.StartsAt) > s.maxAge
}

func (s *dlqService) view(ctx context.Context, e store.DLQEntry) web.DeadLetter {
	d := web.DeadLetter{ID: e.ID, EventID: e.EventID, Playbook: e.Playbook, Phase: e.Phase, Step: e.Step, Action: e.Action,
		Target: e.Target, Error: e.Error, Attempts: e.Attempts, FailedAt: e.FailedAt, Failures: e.Failures}
	if ev, err := s.a.DB.Event(ctx, e.Seq); err == nil {
		d.Stale = s.stale(ev)
	}
	return d
}

// ListDLQ implements web.DeadLetters.
func (s *dlqService) ListDLQ(ctx context.Context) ([]web.DeadLetter, error) {
	list, err := s.a.DB.ListDLQ(ctx)
	out := make([]web.DeadLetter, 0, len(list))
	for _, e := range list {
		out = append(out, s.view(ctx, e))
	}
	return out, err
}

func (s *dlqService) entry(ctx context.Context, id string) (store.DLQEntry, error) {
	var e store.DLQEntry
	err := s.a.DB.View(ctx, func(tx state.Tx) error {
		var err error
		e, err = store.GetDLQ(tx, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return e, fmt.Errorf("dlq entry %q: %w", id, web.ErrDLQNotFound)
	}
	return e, err
}

// RetryDLQ releases the failed step's claim and queues it to run again
// through every guard; the retry is audited with the failure it retries.
func (s *dlqService) RetryDLQ(ctx context.Context, id string, force bool, actorName string) (web.DeadLetter, error) {
	e, err := s.entry(ctx, id)
	if err != nil {
		return web.DeadLetter{}, err
	}
	ev, err := s.a.DB.Event(ctx, e.Seq)
	if err != nil {
		return web.DeadLetter{}, fmt.Errorf("event %s is no longer in the inbox: %w", e.EventID, web.ErrDLQGone)
	}
	if set := s.a.Engine.Playbooks(); set == nil {
		return web.DeadLetter{}, fmt.Errorf("no playbooks are loaded: %w", web.ErrDLQGone)
	} else if _, ok := set.Get(e.Playbook); !ok {
		return web.DeadLetter{}, fmt.Errorf("playbook %q is no longer loaded: %w", e.Playbook, web.ErrDLQGone)
	}
	stale := s.stale(ev)
	if stale && !force {
		return web.DeadLetter{}, fmt.Errorf("event %s started %s ago, more than max_event_age %s: retry with force: %w",
			e.EventID, s.a.opts.Now().Sub(ev.StartsAt).Round(time.Second), s.maxAge, web.ErrDLQStale)
	}
	var retryOf uint64
	if recs, err := s.a.DB.AuditForEvent(ctx, e.EventID); err == nil {
		for _, r := range recs {
			if r.Kind == audit.KindStepFailed && r.Playbook == e.Playbook && r.Step != nil && *r.Step == e.Step {
				retryOf = r.Seq
			}
		}
	}
	outcome := store.OutcomeRetry
	if stale {
		outcome = store.OutcomeRetryStale
	}
	err = s.a.DB.Update(ctx, func(tx state.Tx) error {
		cur, err := store.GetDLQ(tx, id)
		if err != nil {
			return fmt.Errorf("dlq entry %q: %w", id, web.ErrDLQNotFound)
		}
		if err := engine.ReleaseFailedClaim(tx, cur.Key); err != nil {
			return fmt.Errorf("%v: %w", err, web.ErrDLQGone)
		}
		if err := store.DeleteDLQ(tx, cur.Key); err != nil {
			return err
		}
		msg := fmt.Sprintf("retry of the step that failed at %s (%d attempt(s)): %s", cur.FailedAt.Format(time.RFC3339), cur.Attempts, cur.Error)
		if stale {
			msg = "forced retry of a stale event's step; " + msg
		}
		return tx.Audit(audit.Record{Kind: store.KindDLQRetry, EventID: cur.EventID, Playbook: cur.Playbook, Step: audit.StepIndex(cur.Step),
			Action: cur.Action, Target: cur.Target, Outcome: outcome, Actor: actorName, Message: msg,
			Data: map[string]any{"dlq_id": cur.ID, "retry_of": retryOf, "failures": cur.Failures, "phase": cur.Phase, "forced": force}})
	})
	if err != nil {
		return web.DeadLetter{}, err
	}
	d := s.view(ctx, e)
	select {
	case s.retries <- dlqRetry{seq: e.Seq, playbook: e.Playbook, phase: e.Phase, step: e.Step, actor: actorName, forced: stale}:
	case <-ctx.Done():
		return d, ctx.Err()
	}
	return d, nil
}

// DiscardDLQ drops the entry, audited with the reason.
func (s *dlqService) DiscardDLQ(ctx context.Context, id, reason, actorName string) (web.DeadLetter, error) {
	e, err := s.entry(ctx, id)
	if err != nil {
		return web.DeadLetter{}, err
	}
	err = s.a.DB.Update(ctx, func(tx state.Tx) error {
		cur, err := store.GetDLQ(tx, id)
		if err != nil {
			return fmt.Errorf("dlq entry %q: %w", id, web.ErrDLQNotFound)
		}
		if err := store.DeleteDLQ(tx, cur.Key); err != nil {
			return err
		}
		return tx.Audit(audit.Record{Kind: store.KindDLQDiscard, EventID: cur.EventID, Playbook: cur.Playbook, Step: audit.StepIndex(cur.Step),
			Action: cur.Action, Target: cur.Target, Outcome: store.OutcomeDiscarded, Actor: actorName, Message: reason,
			Data: map[string]any{"dlq_id": cur.ID, "error": cur.Error, "failures": cur.Failures, "phase": cur.Phase}})
	})
	if err != nil {
		return web.DeadLetter{}, err
	}
	return s.view(ctx, e), nil
}
