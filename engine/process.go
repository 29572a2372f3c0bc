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
	"github.com/firebreak/firebreak/engine/plan"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
)

// State buckets the engine owns.
const (
	bucketSteps     = "steps"     // plan key → stepClaim: a step runs at most once
	bucketEvents    = "events"    // event id → "matched" (files written before the marker moved to bucketSteps)
	bucketTriggered = "triggered" // playbook|fingerprint → triggerRecord, for on_resolved
	bucketUndo      = "undo"      // playbook|action|target → undoRecord, for restore steps
	bucketHeld      = "held"      // plan key → heldRecord: steps refused while paused, run on resume
)

// claimStatus is the state of a step's claim in the steps bucket. The
// claim is what makes a step run at most once: any claim but parked (with
// an approval) means the step is decided and is not run again. The values
// are stored; they must not change.
type claimStatus string

// The catalogue of claim states.
const (
	// claimStarted: the step is running, or the process stopped while it
	// ran (found at start: the step becomes interrupted).
	claimStarted claimStatus = "started"
	// claimDone and claimFailed: the step ran and succeeded or failed.
	claimDone   claimStatus = "done"
	claimFailed claimStatus = "failed"
	// claimRefused: a guard, the approval check or staleness refused it.
	claimRefused claimStatus = "refused"
	// claimDryRun: the step was dry-run.
	claimDryRun claimStatus = "dry_run"
	// claimParked: the step waits for a human; an approval runs it.
	claimParked claimStatus = "parked"
	// claimInterrupted: started before a restart; outcome unknown.
	claimInterrupted claimStatus = "interrupted"
	// claimNothingToRestore: a restore step found no recorded state to
	// put back (the earlier step failed, changed nothing or never ran);
	// it is skipped and the playbook goes on.
	claimNothingToRestore claimStatus = "nothing_to_restore"
	// claimHeld: refused while paused under guards.on_pause: hold; the
	// step is parked in the held bucket and runs again on resume.
	claimHeld claimStatus = "held"
	// A step that did not plan stores its plan.Outcome (when_false,
	// render_error …) as its status.

	// claimStale is a decision of runStep, never stored: a stale step's
	// claim is stored as refused.
	claimStale claimStatus = "stale"
)

type stepClaim struct {
	Status claimStatus `json:"status"`
	At     time.Time   `json:"at"`
	// Token is the fencing token of the store session that started the
	// step (a started claim on a clustered store; 0 on a single node).
	// The outcome is committed only under the same token, so a replica
	// that lost its session while the step ran cannot record it late.
	Token int64 `json:"token,omitempty"`
}

// fencingToken is the token of the session tx commits under (the etcd
// store's Tx has one), or 0.
func fencingToken(tx state.Tx) int64 {
	if f, ok := tx.(interface{ FencingToken() int64 }); ok {
		return f.FencingToken()
	}
	return 0
}

type triggerRecord struct {
	EventID string    `json:"event_id"`
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
}

// undoRecord is what a reversible step changed (actions.Result.Undo), kept
// for a restore step of the same playbook, action and target. EventID
// ties it to retention: SweepForgotten drops it with its event.
type undoRecord struct {
	EventID string         `json:"event_id"`
	At      time.Time      `json:"at"`
	Undo    map[string]any `json:"undo"`
}

// undoKey is the undo bucket's key of a plan.
func undoKey(pl *Plan) string {
	return pl.Playbook.Name + "|" + pl.Step.Action + "|" + pl.Target.String()
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
	stale := e.stale(&ev)
	if stale {
		records = append(records, audit.Record{Kind: audit.KindStale, EventID: ev.ID, Outcome: "stale", Message: "event older than the configured maximum age: no step runs"})
	}
	received = e.prepare(received)
	for i := range records {
		records[i] = e.prepare(records[i])
	}
	// The event's records ride on its first commit: the first step's
	// claim, or the finish when no step runs.
	c := &carry{}
	c.later(func(tx state.Tx) error {
		if eventKnown(tx, ev.ID) {
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
		if c.finishing {
			// The records ride on the event's finish (no step ran): once
			// that commits the event is never processed again, and until
			// then nothing of it is written, so nothing needs to say the
			// records are there. An unmatched event keeps no state.
			return nil
		}
		return tx.Put(bucketSteps, markerKey(ev.ID), []byte("matched"))
	})
	log.Info("event received", "matched", len(matched))
	for _, pb := range matched {
		e.cfg.Observer.PlaybookMatched(pb.Name)
	}

	if !stale {
		if ev.Status == event.StatusResolved {
			if err := e.resolved(ctx, c, seq, &ev, set); err != nil {
				return err
			}
		}
		for _, pb := range matched {
			if err := e.runSteps(ctx, c, seq, &ev, pb, PhaseSteps, 0, ""); err != nil {
				return err
			}
		}
	}
	c.finishing = true
	err = e.update(ctx, c, func(tx state.Tx) error { return tx.Finish(seq) })
	if err != nil {
		return wrapf(err, "finish event %s", ev.ID)
	}
	e.processed.Add(1)
	e.cfg.Observer.EventProcessed(ev.Source, len(matched), e.cfg.Now().Sub(start))
	return nil
}

// stale reports whether no step may run for ev now: it was marked stale
// when it arrived, or its alert started longer than MaxEventAge ago by the
// engine's clock — unless ActOnStale. Only firing events go stale, as at
// ingest: a resolve is news however old its alert is.
func (e *Engine) stale(ev *event.Event) bool {
	if e.cfg.ActOnStale {
		return false
	}
	if ev.Stale {
		return true
	}
	return e.cfg.MaxEventAge > 0 && ev.Status == event.StatusFiring && !ev.StartsAt.IsZero() &&
		e.cfg.Now().Sub(ev.StartsAt) > e.cfg.MaxEventAge
}

// resolved handles a resolved alert: tells the guard (breaker
// verification), cancels pending approvals, and runs on_resolved steps of
// every playbook that acted on the alert.
func (e *Engine) resolved(ctx context.Context, c *carry, seq uint64, ev *event.Event, set *playbooks.Set) error {
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
	err = e.update(ctx, c, func(tx state.Tx) error {
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
			if err := e.runSteps(ctx, c, seq, ev, pb, PhaseOnResolved, 0, ""); err != nil {
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
	return e.cont(ctx, seq, playbook, phase, from, approvedBy, false)
}

// ContinueStale is Continue for a step an operator chose to run although
// its event is older than MaxEventAge (a forced dead-letter retry): the
// event's staleness does not stop the steps; every guard still runs.
func (e *Engine) ContinueStale(ctx context.Context, seq uint64, playbook, phase string, from int) error {
	return e.cont(ctx, seq, playbook, phase, from, "", true)
}

func (e *Engine) cont(ctx context.Context, seq uint64, playbook, phase string, from int, approvedBy string, actOnStale bool) error {
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
	resume := claimStatus("")
	if approvedBy != "" {
		resume = claimParked
	}
	c := &carry{actOnStale: actOnStale}
	if err := e.runSteps(ctx, c, seq, &ev, pb, phase, from, resume); err != nil {
		return err
	}
	return e.flush(ctx, c)
}

// runSteps plans, guards and runs the steps of one phase of pb for ev.
//
// resume is the claim step from may be found in and still run: parked
// (a human approved it) or held (execution resumed); "" for none.
func (e *Engine) runSteps(ctx context.Context, c *carry, seq uint64, ev *event.Event, pb *playbooks.Playbook, phase string, from int, resume claimStatus) error {
	steps := pb.Steps
	if phase == PhaseOnResolved {
		steps = pb.OnResolved
	}
	for i := from; i < len(steps); i++ {
		var r claimStatus
		if i == from {
			r = resume
		}
		err := e.runStep(ctx, c, seq, ev, pb, phase, steps[i], r, i == len(steps)-1)
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
// step, another error when the store failed, nil otherwise. last says no
// step of the phase follows this one.
func (e *Engine) runStep(ctx context.Context, c *carry, seq uint64, ev *event.Event, pb *playbooks.Playbook, phase string, st *playbooks.Step, resume claimStatus, last bool) error {
	approved := resume == claimParked
	forced := c != nil && c.actOnStale // an operator forced a stale event's step
	log := e.log.With("event_id", ev.ID, "playbook", pb.Name, "phase", phase, "step", st.Index, "action", st.Action)
	base := audit.Record{EventID: ev.ID, Playbook: pb.Name, Step: audit.StepIndex(st.Index), Action: st.Action}
	if phase == PhaseOnResolved {
		base.Data = map[string]any{"phase": phase}
	}
	fail := func(kind audit.Kind, outcome, msg string) error {
		r := base
		r.Kind, r.Outcome, r.Message = kind, outcome, msg
		if err := e.update(ctx, c, func(tx state.Tx) error {
			key := ev.ID + "|" + pb.Name + "|" + phase + "|" + strconv.Itoa(st.Index)
			if tx.Get(bucketSteps, key) != nil {
				return nil
			}
			if err := tx.Put(bucketSteps, key, claimJSON(claimStatus(outcome), tx.Now())); err != nil {
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

	ps := plan.Prepare(e.cfg.Registry, ev, st)
	switch ps.Outcome {
	case plan.Planned:
	case plan.WhenFalse:
		return fail(audit.KindStepSkipped, string(ps.Outcome), "the step's when condition is false")
	default:
		return fail(audit.KindStepFailed, string(ps.Outcome), ps.Err.Error())
	}
	pl := &Plan{Seq: seq, Event: ev, Playbook: pb, Phase: phase, Step: st, Action: ps.Action, Params: ps.Params, Target: ps.Target}
	restore, _ := ps.Params[actions.RestoreParam].(bool)
	switch why := plan.DryRunWhy(pb); {
	case e.cfg.DryRun:
		pl.DryRun, pl.DryRunWhy = true, "global dry_run"
	case why != "":
		pl.DryRun, pl.DryRunWhy = true, why
	default:
		if why, ok := e.cfg.Registry.ForcedDryRun(st.Action); ok {
			pl.DryRun, pl.DryRunWhy = true, why
		}
	}
	needsApproval := !approved && !pl.DryRun && plan.NeedsApproval(pb, st)
	base.Target = pl.Target.String()
	base.Data = mergeData(base.Data, map[string]any{"params": ps.Shown})

	var decision claimStatus
	var approvalID string
	var verdict Verdict
	key := pl.Key()
	// skipDryRunClaim leaves a dry run's claim out of a commit that also
	// finishes the event (deferDryRun): the claim only matters should the
	// event be processed again, and a finished one never is.
	skipDryRunClaim := false
	decide := func(tx state.Tx) error {
		decision, approvalID, verdict = "", "", Verdict{}
		now := tx.Now()
		// claim stores the step's claim and its audit record together.
		claim := func(status claimStatus, kind audit.Kind, outcome, msg string) error {
			b := claimJSON(status, now)
			if status == claimStarted {
				b, _ = json.Marshal(stepClaim{Status: status, At: now, Token: fencingToken(tx)})
			}
			if err := tx.Put(bucketSteps, key, b); err != nil {
				return err
			}
			r := base
			r.Kind, r.Outcome, r.Message = kind, outcome, msg
			return tx.Audit(r)
		}
		refuse := func(v Verdict) error {
			verdict, decision = v, claimRefused
			if v.Reason == ReasonPaused && e.cfg.HoldPaused && !pl.DryRun {
				decision = claimHeld
				b, _ := json.Marshal(heldRecord{EventID: ev.ID, Seq: seq, Playbook: pb.Name, Phase: phase, Step: st.Index, At: now})
				if err := tx.Put(bucketHeld, key, b); err != nil {
					return err
				}
				return claim(claimHeld, audit.KindStepHeld, "held", v.Message+"; held (guards.on_pause: hold): runs on resume unless the event is stale by then")
			}
			return claim(claimRefused, audit.KindStepRefused, string(v.Reason), v.Message)
		}
		if raw := tx.Get(bucketSteps, key); raw != nil {
			var c stepClaim
			_ = json.Unmarshal(raw, &c)
			if resume == claimHeld && c.Status != claimHeld {
				// Released on resume by another replica first (every
				// replica releases the held steps it listed): that
				// replica's claim stands; a started one is running there,
				// not interrupted.
				decision = "already_" + c.Status
				return nil
			}
			if c.Status == claimStarted {
				// The process stopped while the step ran: its outcome is
				// unknown, and running it again could act twice.
				decision = claimInterrupted
				return claim(claimInterrupted, audit.KindInterrupted, "interrupted",
					"the step was started before a restart and its outcome is unknown; not run again")
			}
			if c.Status == claimParked && approved {
				// fall through: the approved step runs now
			} else if c.Status == claimHeld && resume == claimHeld {
				// Released on resume: whatever is decided now replaces
				// the hold, in this transaction.
				if err := tx.Delete(bucketHeld, key); err != nil {
					return err
				}
			} else {
				decision = "already_" + c.Status
				return nil
			}
		}
		if e.stale(ev) && !forced {
			// The event aged past max_event_age while it waited (a slow
			// backlog, an earlier step, a human approval): too late to act.
			decision = claimStale
			return claim(claimRefused, audit.KindStale, "stale",
				fmt.Sprintf("event older than the configured maximum age (%s) when the step was about to run: not run", e.cfg.MaxEventAge))
		}
		if restore {
			raw := tx.Get(bucketUndo, undoKey(pl))
			var u undoRecord
			if raw == nil || json.Unmarshal(raw, &u) != nil || u.Undo == nil {
				decision = claimNothingToRestore
				return claim(claimNothingToRestore, audit.KindStepSkipped, string(claimNothingToRestore),
					fmt.Sprintf("nothing to restore: no earlier %s of %s by this playbook recorded what it changed", st.Action, pl.Target))
			}
			pl.Restore = u.Undo
			base.Data["restore"] = u.Undo
		}
		if ac, ok := e.cfg.Approver.(ApprovalChecker); ok && approved {
			v, err := ac.CheckApproved(tx, pl)
			if err != nil {
				return err
			}
			if !v.Allowed() {
				return refuse(v)
			}
		}
		if e.cfg.Guard != nil {
			v, err := e.cfg.Guard.Check(tx, pl)
			if err != nil {
				return err
			}
			verdict = v
			if !v.Allowed() {
				return refuse(v)
			}
		}
		switch {
		case pl.DryRun:
			decision = claimDryRun
			if skipDryRunClaim {
				return nil
			}
			return tx.Put(bucketSteps, key, claimJSON(claimDryRun, now))
		case needsApproval:
			if e.cfg.Approver == nil {
				return refuse(Verdict{Reason: ReasonApprovalUnavailable, Message: "the step needs approval but no approver is configured"})
			}
			id, err := e.cfg.Approver.Park(tx, pl, []Verdict{verdict})
			if err != nil {
				return err
			}
			approvalID, decision = id, claimParked
			return claim(claimParked, audit.KindApproval, "requested", "waiting for approval "+id)
		}
		decision = claimStarted
		return claim(claimStarted, audit.KindStepStarted, "started", "")
	}
	if pl.DryRun && !restore && resume == "" && c != nil {
		deferred, err := e.deferDryRun(ctx, c, pl, base, log, decide, &decision, &skipDryRunClaim, func() error {
			_, err := e.reportDecision(ctx, pl, decision, verdict, approvalID, log)
			return err
		})
		if err != nil || (deferred && last) {
			return err
		}
		if deferred {
			// The next step is planned on this one's decision: commit it
			// now, with the dry run's record.
			if err := e.flush(ctx, c); err != nil {
				return err
			}
			if decision == claimDryRun || decision == "already_"+claimDone || decision == "already_"+claimDryRun {
				return nil
			}
			return errStop
		}
	}
	if err := e.update(ctx, c, decide); err != nil {
		return wrapf(err, "claim step %s", key)
	}
	if done, err := e.reportDecision(ctx, pl, decision, verdict, approvalID, log); done {
		return err
	}
	switch decision {
	case claimDryRun:
		return e.dryRun(ctx, c, pl, base, log)
	case claimStarted:
		return e.execute(ctx, c, pl, base, log)
	}
	// already_*: an earlier attempt decided this step.
	if decision == "already_"+claimDone || decision == "already_"+claimDryRun {
		return nil
	}
	return errStop
}

// reportDecision logs and counts a step's decision that runs nothing
// (a refusal, a hold, a wait for approval …) and returns what runStep
// returns for it, with done; done is false for a decision to run the step
// (dry run, started) or one an earlier attempt made (already_*).
func (e *Engine) reportDecision(ctx context.Context, pl *Plan, decision claimStatus, verdict Verdict, approvalID string, log *slog.Logger) (done bool, err error) {
	st, pb := pl.Step, pl.Playbook

	switch decision {
	case claimNothingToRestore:
		log.Info("nothing to restore; step skipped")
		e.cfg.Observer.StepFinished(st.Action, string(claimNothingToRestore), 0)
		return true, nil
	case claimHeld:
		log.Info("step held while paused", "message", verdict.Message)
		e.held.Store(true)
		e.cfg.Observer.GuardRefused(string(verdict.Reason), pb.Name)
		return true, errStop
	case claimInterrupted:
		log.Warn("step was interrupted by a restart; not run again")
		return true, errStop
	case claimStale:
		log.Warn("event went stale before the step ran; the playbook stops")
		return true, errStop
	case claimRefused:
		log.Info("step refused", "reason", verdict.Reason, "message", verdict.Message)
		e.cfg.Observer.GuardRefused(string(verdict.Reason), pb.Name)
		return true, errStop
	case claimParked:
		log.Info("step waits for approval", "approval_id", approvalID)
		if err := e.cfg.Approver.Notify(ctx, approvalID); err != nil {
			log.Error("posting the approval request failed", "approval_id", approvalID, "error", err)
		}
		return true, errStop
	}
	return false, nil
}

func (e *Engine) dryRun(ctx context.Context, c *carry, plan *Plan, base audit.Record, log *slog.Logger) error {
	r, summary := e.runDry(ctx, plan, base)
	// Recorded with the event's next commit (its next step's claim or its
	// finish): nothing acts in between.
	c.later(func(tx state.Tx) error { return tx.Audit(r) })
	e.dryRunDone(plan, summary, log)
	return nil
}

// runDry runs plan's dry run and returns its record and summary.
func (e *Engine) runDry(ctx context.Context, plan *Plan, base audit.Record) (audit.Record, string) {
	res, err := e.runAction(ctx, plan, 1)
	r := base
	r.Kind, r.Outcome = audit.KindStepDryRun, "dry_run"
	r.Message = "would run (" + plan.DryRunWhy + "): " + res.Summary
	if err != nil {
		r.Message = "would run (" + plan.DryRunWhy + "); the dry run failed: " + err.Error()
	}
	r.Data = mergeData(r.Data, resultData(res))
	return e.prepare(r), res.Summary
}

func (e *Engine) dryRunDone(plan *Plan, summary string, log *slog.Logger) {
	log.Info("step dry run", "why", plan.DryRunWhy, "summary", summary)
	e.cfg.Observer.StepFinished(plan.Step.Action, "dry_run", 0)
}

// deferDryRun decides a dry-run step in the commit that records its dry
// run. A dry run acts on nothing, so its claim need not be durable before
// it runs: the claim function runs first against a scratch view
// (scratchTx), and when it would decide a dry run, the dry run runs and
// the claim function — deciding again, now for real — rides on the
// event's next commit with the dry run's record: for the last step of a
// phase usually the finish (the caller commits at once for a step that
// others follow). That makes a shadow event with one step one commit
// instead of two, and its audit records one index entry (with hashed
// event ids, each commit of an event rewrote a leaf of the index and one
// of the step claims). And a claim is never durable without its dry
// run's record: when the claim committed first, a crash before the
// record's commit left the step decided and its dry run unrecorded for
// good (the restart found the claim and did not run it again).
//
// Should the real decision differ (another event took the dedupe window
// meanwhile), it is what is stored and reported, and the dry run's
// record is dropped. Nothing is deferred, and deferred is false, when the
// view decides anything but a dry run: a refusal costs no dry run, which
// may ask a remote system (a Kubernetes server-side dry run).
//
// report runs after that commit with the real decision; skip is set, in
// the commit, when that commit also finishes the event.
func (e *Engine) deferDryRun(ctx context.Context, c *carry, plan *Plan, base audit.Record, log *slog.Logger,
	decide func(state.Tx) error, decision *claimStatus, skip *bool, report func() error) (deferred bool, err error) {
	err = e.cfg.Store.View(ctx, func(tx state.Tx) error { return decide(newScratch(tx)) })
	if err != nil || *decision != claimDryRun {
		// A view that cannot decide (a write it does not keep) leaves
		// the step to its own commit.
		return false, nil
	}
	r, summary := e.runDry(ctx, plan, base)
	c.later(func(tx state.Tx) error {
		*skip = c.finishing
		if err := decide(tx); err != nil {
			return err
		}
		if *decision != claimDryRun {
			return nil // decided otherwise: its own record is written
		}
		return tx.Audit(r)
	})
	c.afterCommit(func() {
		if *decision == claimDryRun {
			e.dryRunDone(plan, summary, log)
			return
		}
		_ = report()
	})
	return true, nil
}

// runAction runs one attempt of plan's action within the step's timeout,
// once one of the MaxActions slots is free (the wait is not part of the
// timeout). A ctx that ends while it waits ends the attempt unrun, with
// ctx's error.
func (e *Engine) runAction(ctx context.Context, plan *Plan, attempt int) (actions.Result, error) {
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return actions.Result{}, fmt.Errorf("waiting for a free action slot: %w", ctx.Err())
	}
	defer func() { <-e.slots }()
	actx, cancel := context.WithTimeout(ctx, plan.Step.Timeout)
	defer cancel()
	return plan.Action.Run(actx, e.request(plan, attempt))
}

func (e *Engine) request(plan *Plan, attempt int) actions.Request {
	return actions.Request{Params: plan.Params, Event: plan.Event, Playbook: plan.Playbook.Name, Step: plan.Step.Index, DryRun: plan.DryRun, Attempt: attempt, Restore: plan.Restore, Written: plan.Step}
}

// execute runs the step with its timeout and retries, then records the
// outcome together with the guard's observation.
func (e *Engine) execute(ctx context.Context, c *carry, plan *Plan, base audit.Record, log *slog.Logger) error {
	st := plan.Step
	start := e.cfg.Now()
	var res actions.Result
	var err error
	attempts := st.Retries + 1
	attempt := 1
	for ; ; attempt++ {
		res, err = e.runAction(ctx, plan, attempt)
		if err == nil || errors.Is(err, actions.ErrPermanent) || attempt >= attempts || ctx.Err() != nil {
			break
		}
		delay := retryDelay(attempt, res.RetryAfter, st.Timeout)
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
	r = e.prepare(r)
	key := plan.Key()
	trigKey := plan.Playbook.Name + "|" + plan.Event.Fingerprint
	// The outcome rides on the event's next commit, which follows at once
	// (the next step's claim, before it acts, or the event's finish).
	c.later(func(tx state.Tx) error {
		// The claim must still be the one this run made: started, under
		// this session. Another replica that took the event over has
		// recorded the step interrupted; a new session of this replica
		// was not the one that ran it.
		var cl stepClaim
		if b := tx.Get(bucketSteps, key); b == nil || json.Unmarshal(b, &cl) != nil || cl.Status != claimStarted || cl.Token != fencingToken(tx) {
			return fmt.Errorf("record the outcome of step %s (claim %s, token %d): %w", key, cl.Status, cl.Token, ErrClaimLost)
		}
		if err := tx.Put(bucketSteps, key, claimJSON(status, tx.Now())); err != nil {
			return err
		}
		if err := tx.Audit(r); err != nil {
			return err
		}
		if err != nil && ctx.Err() == nil && e.cfg.DeadLetter != nil {
			if derr := e.cfg.DeadLetter.DeadLetter(tx, plan, r); derr != nil {
				return derr
			}
		}
		if plan.Phase == PhaseSteps && plan.Event.Fingerprint != "" && plan.Event.Status == event.StatusFiring {
			b, _ := json.Marshal(triggerRecord{EventID: plan.Event.ID, Seq: plan.Seq, At: tx.Now()})
			if err := tx.Put(bucketTriggered, trigKey, b); err != nil {
				return err
			}
		}
		if err := recordUndo(tx, plan, res, err); err != nil {
			return err
		}
		if e.cfg.Guard != nil {
			return e.cfg.Guard.Observe(tx, plan, err)
		}
		return nil
	})
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

// retryDelay is the wait before retry attempt+1 of a step: Backoff, or
// longer when the remote system asked for it with Retry-After — but never
// longer than the step's timeout for that request, so a Retry-After of
// ten minutes does not hold a worker for ten minutes per attempt.
func retryDelay(attempt int, retryAfter, timeout time.Duration) time.Duration {
	backoff := Backoff(attempt)
	if retryAfter <= backoff {
		return backoff
	}
	if timeout > 0 && retryAfter > timeout {
		return max(timeout, backoff)
	}
	return retryAfter
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

// recordUndo keeps what a successful reversible run changed, for a later
// restore step, and drops the record a successful restore used. The first
// record per playbook, action and target is kept: a second scale while
// the first is not undone must not make its own result the state to
// return to.
func recordUndo(tx state.Tx, plan *Plan, res actions.Result, runErr error) error {
	if runErr != nil || plan.DryRun {
		return nil
	}
	key := undoKey(plan)
	if plan.Restore != nil {
		return tx.Delete(bucketUndo, key)
	}
	if res.Undo == nil || plan.Phase != PhaseSteps || tx.Get(bucketUndo, key) != nil {
		return nil
	}
	b, err := json.Marshal(undoRecord{EventID: plan.Event.ID, At: tx.Now(), Undo: res.Undo})
	if err != nil {
		return fmt.Errorf("encode undo of %s: %w", key, err)
	}
	return tx.Put(bucketUndo, key, b)
}

func claimJSON(status claimStatus, at time.Time) []byte {
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
// replaced, for logs and the audit trail. It is the plan stage's
// redaction (plan.Redact), kept here for the engine's callers.
func Redact(spec actions.Spec, params map[string]any) map[string]any {
	return plan.Redact(spec, params)
}

// SweepForgotten drops the on_resolved marks of alerts whose firing event
// retention has forgotten (ForgetEvent removed its record). Without it a
// mark lives forever when the resolved notification never comes: an alert
// silenced or deleted at its source, or a receiver changed. A resolve that
// arrives after the sweep runs no on_resolved steps, like any event older
// than the retention window. It returns how many marks it removed.
//
// Recorded undo state (what a reversible step changed, for a restore
// step) goes the same way with the event that recorded it.
func SweepForgotten(tx state.Tx) (int, error) {
	n := 0
	for _, bucket := range []string{bucketTriggered, bucketUndo} {
		var dead []string
		err := tx.ForEach(bucket, func(key string, v []byte) error {
			var rec struct {
				EventID string `json:"event_id"`
			}
			if json.Unmarshal(v, &rec) != nil || rec.EventID == "" {
				return nil // not ours to judge; leave it
			}
			if !eventKnown(tx, rec.EventID) {
				dead = append(dead, key)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		for _, k := range dead {
			if err := tx.Delete(bucket, k); err != nil {
				return 0, err
			}
		}
		n += len(dead)
	}
	return n, nil
}

// markerKey is the key, in bucketSteps, of the record that an event's
// decisions were audited: the event id and the separator, which no plan
// key equals (a plan key goes on with the playbook, the phase and the
// step). It sits beside the event's step claims, so that an event's first
// commit rewrites one leaf of state rather than one in each of two
// buckets: with hashed event ids, each is a leaf of its own.
func markerKey(eventID string) string { return eventID + "|" }

// eventKnown reports whether the event's decisions were audited: its
// marker beside its step claims, or, in a file written before the marker
// moved there, in bucketEvents.
func eventKnown(tx state.Tx, eventID string) bool {
	return tx.Get(bucketSteps, markerKey(eventID)) != nil || tx.Get(bucketEvents, eventID) != nil
}

// ForgetEvent drops the engine's per-event state — the record that the
// event's decisions were audited and its step claims — for an event that
// retention removed from the inbox. It runs in retention's transaction.
func ForgetEvent(tx state.Tx, eventID string) error {
	if err := tx.Delete(bucketEvents, eventID); err != nil { // files written before the marker moved
		return err
	}
	if err := tx.DeletePrefix(bucketHeld, eventID+"|"); err != nil {
		return err
	}
	return tx.DeletePrefix(bucketSteps, eventID+"|")
}
