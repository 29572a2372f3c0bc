package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
)

// State buckets the engine owns.
const (
	bucketSteps     = "steps"     // plan key → stepClaim: a step runs at most once
	bucketEvents    = "events"    // event id → "matched": received/matched records written
	bucketTriggered = "triggered" // playbook|fingerprint → triggerRecord, for on_resolved
)

// Step claim states.
const (
	claimStarted     = "started"
	claimDone        = "done"
	claimFailed      = "failed"
	claimRefused     = "refused"
	claimDryRun      = "dry_run"
	claimParked      = "parked"
	claimInterrupted = "interrupted"
)

type stepClaim struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

type triggerRecord struct {
	EventID string    `json:"event_id"`
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
}

// Process runs one inbox event through every playbook and marks it done.
// Running it again for the same event (after a crash) writes no duplicate
// records and re-runs no step that was started.
func (e *Engine) Process(ctx context.Context, seq uint64) error {
	ev, err := e.cfg.Store.Event(ctx, seq)
	if err != nil {
		return err
	}
	return e.process(ctx, seq, ev)
}

func (e *Engine) process(ctx context.Context, seq uint64, ev event.Event) error {
	set := e.playbooks.Load()
	if set == nil {
		return ErrNoPlaybooks
	}
	var err error
	start := e.cfg.Now()
	log := e.log.With("event_id", ev.ID, "source", ev.Source, "alert", ev.Name, "status", ev.Status)

	var matched []*playbooks.Playbook
	var records []audit.Record
	// Candidates skips playbooks whose rule requires another source, name or
	// status; their rules could only be false.
	for _, pb := range set.Candidates(&ev) {
		ok, err := pb.Matches(&ev)
		if err != nil {
			records = append(records, audit.Record{Kind: audit.KindMatchError, EventID: ev.ID, Playbook: pb.Name, Outcome: "error", Message: err.Error()})
			continue
		}
		if ok {
			matched = append(matched, pb)
			records = append(records, audit.Record{Kind: audit.KindMatched, EventID: ev.ID, Playbook: pb.Name, Outcome: "matched", Data: map[string]any{"rule": pb.Match, "mode": pb.Mode, "saw": ruleValues(pb.Match, &ev)}})
		}
	}
	received := audit.Record{Kind: audit.KindReceived, EventID: ev.ID, Source: ev.Source, Outcome: "accepted", Actor: ev.Sender,
		Message: fmt.Sprintf("%s %s (%s)", ev.Name, ev.Status, ev.Severity),
		Data:    map[string]any{"labels": ev.Labels, "received_at": ev.ReceivedAt}}
	if len(matched) == 0 {
		records = append(records, audit.Record{Kind: audit.KindUnmatched, EventID: ev.ID, Outcome: "unmatched", Message: fmt.Sprintf("no playbook of %d matched", set.Len())})
	}
	if ev.Stale && !e.cfg.ActOnStale {
		records = append(records, audit.Record{Kind: audit.KindStale, EventID: ev.ID, Outcome: "stale", Message: "event older than the configured maximum age: no step runs"})
	}
	err = e.cfg.Store.Update(ctx, func(tx state.Tx) error {
		if tx.Get(bucketEvents, ev.ID) != nil {
			return nil // a previous attempt wrote these records
		}
		if err := tx.Audit(received); err != nil {
			return err
		}
		for _, r := range records {
			if err := tx.Audit(r); err != nil {
				return err
			}
		}
		return tx.Put(bucketEvents, ev.ID, []byte("matched"))
	})
	if err != nil {
		return wrapf(err, "record event %s", ev.ID)
	}
	log.Info("event received", "matched", len(matched))
	for _, pb := range matched {
		e.cfg.Observer.PlaybookMatched(pb.Name)
	}

	if !ev.Stale || e.cfg.ActOnStale {
		if ev.Status == event.StatusResolved {
			if err := e.resolved(ctx, seq, &ev, set); err != nil {
				return err
			}
		}
		for _, pb := range matched {
			if err := e.runSteps(ctx, seq, &ev, pb, PhaseSteps, 0, ""); err != nil {
				return err
			}
		}
	}
	err = e.cfg.Store.Update(ctx, func(tx state.Tx) error { return tx.Finish(seq) })
	if err != nil {
		return wrapf(err, "finish event %s", ev.ID)
	}
	e.processed.Add(1)
	e.cfg.Observer.EventProcessed(ev.Source, len(matched), e.cfg.Now().Sub(start))
	return nil
}

// resolved handles a resolved alert: tells the guard (breaker
// verification), cancels pending approvals, and runs on_resolved steps of
// every playbook that acted on the alert.
func (e *Engine) resolved(ctx context.Context, seq uint64, ev *event.Event, set *playbooks.Set) error {
	if e.cfg.Approver != nil {
		if err := e.cfg.Approver.Cancel(ctx, ev); err != nil {
			e.log.Warn("cancelling approvals failed", "event_id", ev.ID, "error", err)
		}
	}
	fp := ev.Fingerprint
	if fp == "" {
		return nil
	}
	// One read finds the playbooks that acted on this alert (usually none),
	// one write closes them out: a resolved event costs no transaction per
	// loaded playbook.
	var acted []*playbooks.Playbook
	err := e.cfg.Store.View(ctx, func(tx state.Tx) error {
		acted = acted[:0]
		for _, pb := range set.Playbooks {
			if tx.Get(bucketTriggered, pb.Name+"|"+fp) != nil {
				acted = append(acted, pb)
			}
		}
		return nil
	})
	if err != nil || len(acted) == 0 {
		return err
	}
	var closed []*playbooks.Playbook
	err = e.cfg.Store.Update(ctx, func(tx state.Tx) error {
		closed = closed[:0]
		for _, pb := range acted {
			key := pb.Name + "|" + fp
			if tx.Get(bucketTriggered, key) == nil {
				continue // another worker closed it meanwhile
			}
			if e.cfg.Guard != nil {
				if err := e.cfg.Guard.Resolved(tx, pb, ev); err != nil {
					return err
				}
			}
			if err := tx.Delete(bucketTriggered, key); err != nil {
				return err
			}
			closed = append(closed, pb)
		}
		return nil
	})
	if err != nil {
		return wrapf(err, "resolve %s", fp)
	}
	for _, pb := range closed {
		if len(pb.OnResolved) > 0 {
			if err := e.runSteps(ctx, seq, ev, pb, PhaseOnResolved, 0, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// Continue runs a playbook's steps from index from on, for the event with
// inbox sequence seq. approvedBy, when set, is the human who approved step
// from: it is not parked again, but every guard runs again.
func (e *Engine) Continue(ctx context.Context, seq uint64, playbook, phase string, from int, approvedBy string) error {
	set := e.playbooks.Load()
	if set == nil {
		return ErrNoPlaybooks
	}
	pb, ok := set.Get(playbook)
	if !ok {
		return fmt.Errorf("continue: playbook %q is no longer loaded", playbook)
	}
	ev, err := e.cfg.Store.Event(ctx, seq)
	if err != nil {
		return err
	}
	return e.runSteps(ctx, seq, &ev, pb, phase, from, approvedBy)
}

// runSteps plans, guards and runs the steps of one phase of pb for ev.
func (e *Engine) runSteps(ctx context.Context, seq uint64, ev *event.Event, pb *playbooks.Playbook, phase string, from int, approvedBy string) error {
	steps := pb.Steps
	if phase == PhaseOnResolved {
		steps = pb.OnResolved
	}
	for i := from; i < len(steps); i++ {
		approved := approvedBy != "" && i == from
		err := e.runStep(ctx, seq, ev, pb, phase, steps[i], approved)
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// runStep returns errStop when the playbook must not go on to its next
// step, another error when the store failed, nil otherwise.
func (e *Engine) runStep(ctx context.Context, seq uint64, ev *event.Event, pb *playbooks.Playbook, phase string, st *playbooks.Step, approved bool) error {
	log := e.log.With("event_id", ev.ID, "playbook", pb.Name, "phase", phase, "step", st.Index, "action", st.Action)
	base := audit.Record{EventID: ev.ID, Playbook: pb.Name, Step: audit.StepIndex(st.Index), Action: st.Action}
	if phase == PhaseOnResolved {
		base.Data = map[string]any{"phase": phase}
	}
	fail := func(kind, outcome, msg string) error {
		r := base
		r.Kind, r.Outcome, r.Message = kind, outcome, msg
		if err := e.cfg.Store.Update(ctx, func(tx state.Tx) error {
			key := ev.ID + "|" + pb.Name + "|" + phase + "|" + strconv.Itoa(st.Index)
			if tx.Get(bucketSteps, key) != nil {
				return nil
			}
			if err := tx.Put(bucketSteps, key, claimJSON(outcome, tx.Now())); err != nil {
				return err
			}
			return tx.Audit(r)
		}); err != nil {
			return err
		}
		log.Warn("step not run", "outcome", outcome, "reason", msg)
		e.cfg.Observer.StepFinished(st.Action, outcome, 0)
		if st.ContinueOnError || kind == audit.KindStepSkipped {
			return nil
		}
		return errStop
	}

	run, err := st.ShouldRun(ev)
	if err != nil {
		return fail(audit.KindStepFailed, "when_error", err.Error())
	}
	if !run {
		return fail(audit.KindStepSkipped, "when_false", "the step's when condition is false")
	}
	params, err := st.Render(ev)
	if err != nil {
		return fail(audit.KindStepFailed, "render_error", err.Error())
	}
	act, err := e.cfg.Registry.Get(st.Action)
	if err != nil {
		return fail(audit.KindStepFailed, "unknown_action", err.Error())
	}
	if err := act.Validate(params, true); err != nil {
		return fail(audit.KindStepFailed, "invalid_params", err.Error())
	}
	plan := &Plan{Seq: seq, Event: ev, Playbook: pb, Phase: phase, Step: st, Action: act, Params: params, Target: act.Target(params)}
	switch {
	case e.cfg.DryRun:
		plan.DryRun, plan.DryRunWhy = true, "global dry_run"
	case pb.Mode == playbooks.ModeShadow:
		plan.DryRun, plan.DryRunWhy = true, "shadow mode"
	default:
		if why, ok := e.cfg.Registry.ForcedDryRun(st.Action); ok {
			plan.DryRun, plan.DryRunWhy = true, why
		}
	}
	needsApproval := !approved && !plan.DryRun && (st.Approval || pb.Mode == playbooks.ModeApprove)
	base.Target = plan.Target.String()
	shownParams := Redact(act.Spec(), params)
	base.Data = mergeData(base.Data, map[string]any{"params": shownParams})

	var decision, approvalID string
	var verdict Verdict
	key := plan.Key()
	err = e.cfg.Store.Update(ctx, func(tx state.Tx) error {
		decision, approvalID, verdict = "", "", Verdict{}
		now := tx.Now()
		if raw := tx.Get(bucketSteps, key); raw != nil {
			var c stepClaim
			_ = json.Unmarshal(raw, &c)
			if c.Status == claimStarted {
				// The process stopped while the step ran: its outcome is
				// unknown, and running it again could act twice.
				r := base
				r.Kind, r.Outcome = audit.KindInterrupted, "interrupted"
				r.Message = "the step was started before a restart and its outcome is unknown; not run again"
				decision = claimInterrupted
				if err := tx.Put(bucketSteps, key, claimJSON(claimInterrupted, now)); err != nil {
					return err
				}
				return tx.Audit(r)
			}
			if c.Status == claimParked && approved {
				// fall through: the approved step runs now
			} else {
				decision = "already_" + c.Status
				return nil
			}
		}
		if ac, ok := e.cfg.Approver.(ApprovalChecker); ok && approved {
			v, err := ac.CheckApproved(tx, plan)
			if err != nil {
				return err
			}
			if !v.Allowed() {
				verdict = v
				r := base
				r.Kind, r.Outcome, r.Message = audit.KindStepRefused, v.Reason, v.Message
				decision = claimRefused
				if err := tx.Put(bucketSteps, key, claimJSON(claimRefused, now)); err != nil {
					return err
				}
				return tx.Audit(r)
			}
		}
		if e.cfg.Guard != nil {
			v, err := e.cfg.Guard.Check(tx, plan)
			if err != nil {
				return err
			}
			verdict = v
			if !v.Allowed() {
				r := base
				r.Kind, r.Outcome, r.Message = audit.KindStepRefused, v.Reason, v.Message
				decision = claimRefused
				if err := tx.Put(bucketSteps, key, claimJSON(claimRefused, now)); err != nil {
					return err
				}
				return tx.Audit(r)
			}
		}
		switch {
		case plan.DryRun:
			decision = claimDryRun
			return tx.Put(bucketSteps, key, claimJSON(claimDryRun, now))
		case needsApproval:
			if e.cfg.Approver == nil {
				r := base
				r.Kind, r.Outcome, r.Message = audit.KindStepRefused, "approval_unavailable", "the step needs approval but no approver is configured"
				decision = claimRefused
				if err := tx.Put(bucketSteps, key, claimJSON(claimRefused, now)); err != nil {
					return err
				}
				return tx.Audit(r)
			}
			id, err := e.cfg.Approver.Park(tx, plan, []Verdict{verdict})
			if err != nil {
				return err
			}
			approvalID = id
			decision = claimParked
			r := base
			r.Kind, r.Outcome, r.Message = audit.KindApproval, "requested", "waiting for approval "+id
			if err := tx.Put(bucketSteps, key, claimJSON(claimParked, now)); err != nil {
				return err
			}
			return tx.Audit(r)
		}
		decision = claimStarted
		r := base
		r.Kind, r.Outcome = audit.KindStepStarted, "started"
		if err := tx.Put(bucketSteps, key, claimJSON(claimStarted, now)); err != nil {
			return err
		}
		return tx.Audit(r)
	})
	if err != nil {
		return wrapf(err, "claim step %s", key)
	}

	switch decision {
	case claimInterrupted:
		log.Warn("step was interrupted by a restart; not run again")
		return errStop
	case claimRefused:
		log.Info("step refused", "reason", verdict.Reason, "message", verdict.Message)
		e.cfg.Observer.GuardRefused(verdict.Reason, pb.Name)
		return errStop
	case claimParked:
		log.Info("step waits for approval", "approval_id", approvalID)
		if err := e.cfg.Approver.Notify(ctx, approvalID); err != nil {
			log.Error("posting the approval request failed", "approval_id", approvalID, "error", err)
		}
		return errStop
	case claimDryRun:
		return e.dryRun(ctx, plan, base, log)
	case claimStarted:
		return e.execute(ctx, plan, base, log)
	}
	// already_*: an earlier attempt decided this step.
	if decision == "already_"+claimDone || decision == "already_"+claimDryRun {
		return nil
	}
	return errStop
}

func (e *Engine) dryRun(ctx context.Context, plan *Plan, base audit.Record, log *slog.Logger) error {
	st := plan.Step
	actx, cancel := context.WithTimeout(ctx, st.Timeout)
	res, err := plan.Action.Run(actx, e.request(plan, 1))
	cancel()
	r := base
	r.Kind, r.Outcome = audit.KindStepDryRun, "dry_run"
	r.Message = "would run (" + plan.DryRunWhy + "): " + res.Summary
	if err != nil {
		r.Message = "would run (" + plan.DryRunWhy + "); the dry run failed: " + err.Error()
	}
	r.Data = mergeData(r.Data, resultData(res))
	if err := e.cfg.Store.Update(ctx, func(tx state.Tx) error { return tx.Audit(r) }); err != nil {
		return wrapf(err, "record dry run")
	}
	log.Info("step dry run", "why", plan.DryRunWhy, "summary", res.Summary)
	e.cfg.Observer.StepFinished(st.Action, "dry_run", 0)
	return nil
}

func (e *Engine) request(plan *Plan, attempt int) actions.Request {
	return actions.Request{Params: plan.Params, Event: plan.Event, Playbook: plan.Playbook.Name, Step: plan.Step.Index, DryRun: plan.DryRun, Attempt: attempt, Written: plan.Step}
}

// execute runs the step with its timeout and retries, then records the
// outcome together with the guard's observation.
func (e *Engine) execute(ctx context.Context, plan *Plan, base audit.Record, log *slog.Logger) error {
	st := plan.Step
	start := e.cfg.Now()
	var res actions.Result
	var err error
	attempts := st.Retries + 1
	attempt := 1
	for ; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, st.Timeout)
		res, err = plan.Action.Run(actx, e.request(plan, attempt))
		cancel()
		if err == nil || errors.Is(err, actions.ErrPermanent) || attempt >= attempts || ctx.Err() != nil {
			break
		}
		delay := Backoff(attempt)
		if res.RetryAfter > delay {
			delay = min(res.RetryAfter, 10*time.Minute)
		}
		log.Warn("step failed; retrying", "attempt", attempt, "of", attempts, "delay", delay.String(), "error", err)
		if e.cfg.Sleep(ctx, delay) != nil {
			break
		}
	}
	took := e.cfg.Now().Sub(start)
	r := base
	r.Data = mergeData(r.Data, resultData(res))
	r.Data["attempts"] = attempt
	r.Data["duration_ms"] = took.Milliseconds()
	status := claimDone
	if err == nil {
		r.Kind, r.Outcome, r.Message = audit.KindStepSucceeded, "ok", res.Summary
	} else {
		status = claimFailed
		r.Kind, r.Outcome, r.Message = audit.KindStepFailed, actions.FailureReason(err), err.Error()
	}
	key := plan.Key()
	trigKey := plan.Playbook.Name + "|" + plan.Event.Fingerprint
	uerr := e.cfg.Store.Update(ctx, func(tx state.Tx) error {
		if err := tx.Put(bucketSteps, key, claimJSON(status, tx.Now())); err != nil {
			return err
		}
		if err := tx.Audit(r); err != nil {
			return err
		}
		if plan.Phase == PhaseSteps && plan.Event.Fingerprint != "" && plan.Event.Status == event.StatusFiring {
			b, _ := json.Marshal(triggerRecord{EventID: plan.Event.ID, Seq: plan.Seq, At: tx.Now()})
			if err := tx.Put(bucketTriggered, trigKey, b); err != nil {
				return err
			}
		}
		if e.cfg.Guard != nil {
			return e.cfg.Guard.Observe(tx, plan, err)
		}
		return nil
	})
	if uerr != nil {
		return wrapf(uerr, "record outcome of %s", key)
	}
	e.cfg.Observer.StepFinished(st.Action, r.Outcome, took)
	if err != nil {
		log.Warn("step failed", "attempts", attempt, "error", err)
		if st.ContinueOnError {
			return nil
		}
		return errStop
	}
	log.Info("step succeeded", "summary", res.Summary, "duration", took.String())
	return nil
}

// Backoff is the delay before retry attempt+1: exponential from one second,
// capped at a minute, with jitter over its upper half.
func Backoff(attempt int) time.Duration {
	d := time.Second << min(attempt-1, 6)
	if d > time.Minute {
		d = time.Minute
	}
	return d/2 + rand.N(d/2+1)
}

func claimJSON(status string, at time.Time) []byte {
	b, _ := json.Marshal(stepClaim{Status: status, At: at})
	return b
}

func resultData(res actions.Result) map[string]any {
	m := map[string]any{}
	if res.Summary != "" {
		m["summary"] = res.Summary
	}
	if res.Before != nil {
		m["before"] = res.Before
	}
	if res.After != nil {
		m["after"] = res.After
	}
	if res.Output != nil {
		m["output"] = res.Output
	}
	return m
}

func mergeData(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// Redact returns params with the values of the action's secret parameters
// replaced, for logs and the audit trail.
func Redact(spec actions.Spec, params map[string]any) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
	}
	for _, p := range spec.Params {
		if _, ok := out[p.Name]; ok && p.Secret {
			out[p.Name] = "[redacted]"
		}
	}
	return out
}

// SweepForgotten drops the on_resolved marks of alerts whose firing event
// retention has forgotten (ForgetEvent removed its record). Without it a
// mark lives forever when the resolved notification never comes: an alert
// silenced or deleted at its source, or a receiver changed. A resolve that
// arrives after the sweep runs no on_resolved steps, like any event older
// than the retention window. It returns how many marks it removed.
func SweepForgotten(tx state.Tx) (int, error) {
	var dead []string
	err := tx.ForEach(bucketTriggered, func(key string, v []byte) error {
		var rec triggerRecord
		if json.Unmarshal(v, &rec) != nil || rec.EventID == "" {
			return nil // not ours to judge; leave it
		}
		if tx.Get(bucketEvents, rec.EventID) == nil {
			dead = append(dead, key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range dead {
		if err := tx.Delete(bucketTriggered, k); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}

// ForgetEvent drops the engine's per-event state — the record that the
// event's decisions were audited and its step claims — for an event that
// retention removed from the inbox. It runs in retention's transaction.
func ForgetEvent(tx state.Tx, eventID string) error {
	if err := tx.Delete(bucketEvents, eventID); err != nil {
		return err
	}
	return tx.DeletePrefix(bucketSteps, eventID+"|")
}
