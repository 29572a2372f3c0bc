package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
)

// Breaker states.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half_open"
)

// breakerRecord is the stored state of one breaker (playbook × target).
type breakerRecord struct {
	Playbook string       `json:"playbook"`
	Target   string       `json:"target"`
	State    string       `json:"state"`
	Failures []time.Time  `json:"failures,omitempty"`
	Runs     []breakerRun `json:"runs,omitempty"`
	OpenedAt time.Time    `json:"opened_at,omitzero"`
	RetryAt  time.Time    `json:"retry_at,omitzero"` // end of the cooldown when opened
	Reason   string       `json:"reason,omitempty"`
	Opens    int          `json:"opens,omitempty"`
	Trial    string       `json:"trial_event_id,omitempty"`
	TrialAt  time.Time    `json:"trial_at,omitzero"`
	Updated  time.Time    `json:"updated"`
}

// breakerRun is one successful run waiting for its alert to clear.
type breakerRun struct {
	EventID     string    `json:"event_id"`
	Fingerprint string    `json:"fingerprint"`
	At          time.Time `json:"at"`
	ResolvedAt  time.Time `json:"resolved_at,omitzero"`
	// Recurred is set when the playbook wanted to act on the same target
	// again before the verification period ended.
	Recurred bool `json:"recurred,omitempty"`
}

// fpIndex lists the breakers holding runs of one playbook × fingerprint.
type fpIndex struct {
	IDs []string  `json:"ids"`
	At  time.Time `json:"at"`
}

// BreakerID returns the stable id of the breaker of playbook × target, as
// used by the API.
func BreakerID(playbook, target string) string {
	sum := sha256.Sum256([]byte(playbook + "\x00" + target))
	return hex.EncodeToString(sum[:8])
}

// ineffective counts the runs inside the breaker window that did not
// clear: their alert did not resolve within Verify, or the playbook wanted
// to act on the target again within Verify.
func (r *breakerRecord) ineffective(now time.Time, b *playbooks.Breaker) int {
	if b.Verify <= 0 {
		return 0
	}
	n := 0
	for _, run := range r.Runs {
		if now.Sub(run.At) >= b.Window {
			continue
		}
		deadline := run.At.Add(b.Verify)
		switch {
		case run.Recurred:
			n++
		case run.ResolvedAt.IsZero() && !now.Before(deadline):
			n++
		case !run.ResolvedAt.IsZero() && run.ResolvedAt.After(deadline):
			n++
		}
	}
	return n
}

func (r *breakerRecord) failuresIn(now time.Time, window time.Duration) int {
	n := 0
	for _, f := range r.Failures {
		if now.Sub(f) < window {
			n++
		}
	}
	return n
}

func (r *breakerRecord) prune(now time.Time, b *playbooks.Breaker) {
	keep := max(b.Window, b.Verify)
	fs := r.Failures[:0]
	for _, f := range r.Failures {
		if now.Sub(f) < b.Window {
			fs = append(fs, f)
		}
	}
	r.Failures = fs
	rs := r.Runs[:0]
	for _, run := range r.Runs {
		if now.Sub(run.At) < keep {
			rs = append(rs, run)
		}
	}
	r.Runs = rs
}

func loadBreaker(tx state.Tx, id, playbook, target string) (*breakerRecord, bool, error) {
	var rec breakerRecord
	ok, err := getJSON(tx, bucketBreaker, id, &rec)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		rec = breakerRecord{Playbook: playbook, Target: target, State: StateClosed}
	}
	return &rec, ok, nil
}

// checkBreaker applies the breaker of p's playbook × target. Closed, it
// first marks earlier runs as recurred and opens when enough runs did not
// clear; open, it refuses until the cooldown ends and then lets this run
// be the one half-open trial; half-open, only the trial's event passes
// (another trial is allowed if the first never reported within a
// cooldown). Dry runs only read it.
func (g *Guard) checkBreaker(tx state.Tx, p *engine.Plan, target string, now time.Time, puts *[]put) (engine.Verdict, error) {
	b := p.Playbook.Breaker
	id := BreakerID(p.Playbook.Name, target)
	rec, _, err := loadBreaker(tx, id, p.Playbook.Name, target)
	if err != nil {
		return engine.Verdict{}, err
	}
	evID := p.Event.ID
	openMsg := func() engine.Verdict {
		return refuse(ReasonBreakerOpen, "circuit breaker %s of playbook %s for %s is open since %s (%s); a trial run is allowed after %s",
			id, p.Playbook.Name, targetName(target), rec.OpenedAt.UTC().Format(time.RFC3339), rec.Reason,
			rec.OpenedAt.Add(b.Cooldown).UTC().Format(time.RFC3339))
	}
	switch rec.State {
	case StateOpen:
		if now.Before(rec.OpenedAt.Add(b.Cooldown)) {
			return openMsg(), nil
		}
		if p.DryRun {
			return engine.Verdict{}, nil
		}
		rec.State, rec.Trial, rec.TrialAt, rec.Updated = StateHalfOpen, evID, now, now
		r := auditRec(KindBreakerHalfOpen, p, target)
		r.Outcome, r.Message = StateHalfOpen, "cooldown over: this run is the breaker's trial"
		r.Data = map[string]any{"breaker_id": id}
		if err := tx.Audit(r); err != nil {
			return engine.Verdict{}, err
		}
		*puts = append(*puts, put{bucketBreaker, id, mustJSON(rec)})
		return engine.Verdict{}, nil
	case StateHalfOpen:
		if rec.Trial == evID {
			return engine.Verdict{}, nil
		}
		if now.Before(rec.TrialAt.Add(b.Cooldown)) {
			return refuse(ReasonBreakerOpen, "circuit breaker %s of playbook %s for %s is half-open: trial run of event %s in progress",
				id, p.Playbook.Name, targetName(target), rec.Trial), nil
		}
		if p.DryRun {
			return engine.Verdict{}, nil
		}
		// The trial never reported (denied approval, interrupted): try again.
		rec.Trial, rec.TrialAt, rec.Updated = evID, now, now
		*puts = append(*puts, put{bucketBreaker, id, mustJSON(rec)})
		return engine.Verdict{}, nil
	}
	// Closed.
	if b.Verify <= 0 {
		return engine.Verdict{}, nil
	}
	changed := false
	for i := range rec.Runs {
		run := &rec.Runs[i]
		if run.EventID != evID && !run.Recurred && now.Before(run.At.Add(b.Verify)) {
			run.Recurred, changed = true, true
		}
	}
	if n := rec.ineffective(now, b); n >= b.Failures {
		if p.DryRun {
			return refuse(ReasonBreakerOpen, "circuit breaker %s of playbook %s for %s would open: %d runs did not clear", id, p.Playbook.Name, targetName(target), n), nil
		}
		reason := fmt.Sprintf("%d runs in the last %s did not clear their alert within %s", n, b.Window, b.Verify)
		if err := g.open(tx, p, rec, id, now, reason); err != nil {
			return engine.Verdict{}, err
		}
		return openMsg(), nil
	}
	if changed && !p.DryRun {
		rec.Updated = now
		*puts = append(*puts, put{bucketBreaker, id, mustJSON(rec)})
	}
	return engine.Verdict{}, nil
}

// open moves rec to open, audits it and queues one notification; it is
// written at once, whatever the step's verdict.
func (g *Guard) open(tx state.Tx, p *engine.Plan, rec *breakerRecord, id string, now time.Time, reason string) error {
	b := p.Playbook.Breaker
	rec.State, rec.OpenedAt, rec.RetryAt, rec.Reason = StateOpen, now, now.Add(b.Cooldown), reason
	rec.Opens++
	rec.Trial, rec.TrialAt, rec.Updated = "", time.Time{}, now
	rec.Failures, rec.Runs = nil, nil
	if err := putJSON(tx, bucketBreaker, id, rec); err != nil {
		return err
	}
	r := auditRec(KindBreakerOpened, p, rec.Target)
	r.Outcome, r.Message = StateOpen, "circuit breaker opened: "+reason
	r.Data = map[string]any{"breaker_id": id, "retry_at": rec.RetryAt, "opens": rec.Opens}
	if err := tx.Audit(r); err != nil {
		return err
	}
	n := Notification{
		Kind: string(KindBreakerOpened), BreakerID: id, Playbook: rec.Playbook, Target: rec.Target,
		Reason: reason, EventID: p.Event.ID, At: now, RetryAt: rec.RetryAt,
	}
	if err := putJSON(tx, bucketOutbox, outboxKey(now, id), n); err != nil {
		return err
	}
	g.wake()
	return nil
}

func outboxKey(now time.Time, id string) string {
	return fmt.Sprintf("%020d|%s", now.UnixNano(), id)
}

// observeBreaker records an acting run's outcome.
func (g *Guard) observeBreaker(tx state.Tx, p *engine.Plan, target string, now time.Time, runErr error) error {
	b := p.Playbook.Breaker
	id := BreakerID(p.Playbook.Name, target)
	rec, _, err := loadBreaker(tx, id, p.Playbook.Name, target)
	if err != nil {
		return err
	}
	rec.prune(now, b)
	rec.Updated = now
	if runErr != nil {
		switch rec.State {
		case StateHalfOpen:
			return g.open(tx, p, rec, id, now, "the trial run of event "+p.Event.ID+" failed")
		case StateClosed:
			rec.Failures = append(rec.Failures, now)
			if n := rec.failuresIn(now, b.Window); n >= b.Failures {
				return g.open(tx, p, rec, id, now, strconv.Itoa(n)+" runs failed in the last "+b.Window.String())
			}
		default:
			rec.Failures = append(rec.Failures, now)
		}
		return putJSON(tx, bucketBreaker, id, rec)
	}
	if rec.State == StateHalfOpen {
		rec.State, rec.Failures, rec.Runs, rec.Trial, rec.TrialAt, rec.Reason = StateClosed, nil, nil, "", time.Time{}, ""
		r := auditRec(KindBreakerClosed, p, target)
		r.Outcome, r.Message = StateClosed, "the trial run succeeded: circuit breaker closed"
		r.Data = map[string]any{"breaker_id": id}
		if err := tx.Audit(r); err != nil {
			return err
		}
		return putJSON(tx, bucketBreaker, id, rec)
	}
	fp := p.Event.Fingerprint
	if b.Verify > 0 && fp != "" {
		seen := false
		for _, run := range rec.Runs {
			seen = seen || run.EventID == p.Event.ID
		}
		if !seen {
			rec.Runs = append(rec.Runs, breakerRun{EventID: p.Event.ID, Fingerprint: fp, At: now})
			k := p.Playbook.Name + "|" + fp
			var idx fpIndex
			if _, err := getJSON(tx, bucketFP, k, &idx); err != nil {
				return err
			}
			if !contains(idx.IDs, id) {
				idx.IDs = append(idx.IDs, id)
			}
			idx.At = now
			if err := putJSON(tx, bucketFP, k, idx); err != nil {
				return err
			}
		}
	}
	return putJSON(tx, bucketBreaker, id, rec)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// resolveBreakerRuns marks the runs of pb for fingerprint as resolved.
func (g *Guard) resolveBreakerRuns(tx state.Tx, pb *playbooks.Playbook, fingerprint string, now time.Time) error {
	k := pb.Name + "|" + fingerprint
	var idx fpIndex
	ok, err := getJSON(tx, bucketFP, k, &idx)
	if err != nil || !ok {
		return err
	}
	for _, id := range idx.IDs {
		var rec breakerRecord
		ok, err := getJSON(tx, bucketBreaker, id, &rec)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		changed := false
		for i := range rec.Runs {
			if rec.Runs[i].Fingerprint == fingerprint && rec.Runs[i].ResolvedAt.IsZero() {
				rec.Runs[i].ResolvedAt, changed = now, true
			}
		}
		if changed {
			rec.Updated = now
			if err := putJSON(tx, bucketBreaker, id, rec); err != nil {
				return err
			}
		}
	}
	return tx.Delete(bucketFP, k)
}

// BreakerStatus is one breaker as the API and metrics see it.
type BreakerStatus struct {
	ID       string `json:"id"`
	Playbook string `json:"playbook"`
	Target   string `json:"target"`
	// State is closed, open or half_open.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// OpenedAt and RetryAt bound the last opening's cooldown.
	OpenedAt *time.Time `json:"opened_at,omitempty"`
	RetryAt  *time.Time `json:"retry_at,omitempty"`
	// Failures and Runs are the recent failed and verified-pending runs.
	Failures int `json:"failures"`
	Runs     int `json:"runs"`
	// FailedAt are the times of those failures, oldest first, so a reader
	// that knows the playbook's breaker window can count the ones still
	// inside it (the stored list is pruned only when a run reports).
	FailedAt []time.Time `json:"failed_at,omitempty"`
	// Opens counts how often the breaker opened.
	Opens        int       `json:"opens"`
	TrialEventID string    `json:"trial_event_id,omitempty"`
	Updated      time.Time `json:"updated"`
}

func (r *breakerRecord) status(id string) BreakerStatus {
	s := BreakerStatus{ID: id, Playbook: r.Playbook, Target: r.Target, State: r.State, Reason: r.Reason,
		Failures: len(r.Failures), Runs: len(r.Runs), Opens: r.Opens, TrialEventID: r.Trial, Updated: r.Updated}
	if len(r.Failures) > 0 {
		s.FailedAt = append([]time.Time(nil), r.Failures...)
	}
	if r.State != StateClosed {
		o, ra := r.OpenedAt, r.RetryAt
		s.OpenedAt, s.RetryAt = &o, &ra
	}
	return s
}

// Breakers lists every breaker with its state, open ones first, for the
// API and the breaker-state gauge.
func (g *Guard) Breakers(ctx context.Context) ([]BreakerStatus, error) {
	out := []BreakerStatus{}
	err := g.cfg.Store.View(ctx, func(tx state.Tx) error {
		out = out[:0]
		return tx.ForEach(bucketBreaker, func(id string, v []byte) error {
			var rec breakerRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("breaker %s: %w", id, err)
			}
			out = append(out, rec.status(id))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list breakers: %w", err)
	}
	rank := map[string]int{StateOpen: 0, StateHalfOpen: 1, StateClosed: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].State] != rank[out[j].State] {
			return rank[out[i].State] < rank[out[j].State]
		}
		if out[i].Playbook != out[j].Playbook {
			return out[i].Playbook < out[j].Playbook
		}
		return out[i].Target < out[j].Target
	})
	return out, nil
}

// ResetBreaker closes the breaker id and forgets its history; actor is
// audited. It returns ErrUnknownBreaker for an id that names none.
func (g *Guard) ResetBreaker(ctx context.Context, id, actor string) (BreakerStatus, error) {
	var st BreakerStatus
	err := g.cfg.Store.Update(ctx, func(tx state.Tx) error {
		var rec breakerRecord
		ok, err := getJSON(tx, bucketBreaker, id, &rec)
		if err != nil {
			return err
		}
		if !ok {
			return ErrUnknownBreaker
		}
		now := tx.Now()
		was := rec.State
		rec.State, rec.Failures, rec.Runs, rec.Reason = StateClosed, nil, nil, ""
		rec.Trial, rec.TrialAt, rec.Updated = "", time.Time{}, now
		if err := putJSON(tx, bucketBreaker, id, rec); err != nil {
			return err
		}
		if err := tx.Audit(audit.Record{Kind: KindBreakerReset, Playbook: rec.Playbook, Target: rec.Target, Outcome: StateClosed,
			Actor: actor, Message: "circuit breaker reset (was " + was + ")", Data: map[string]any{"breaker_id": id}}); err != nil {
			return err
		}
		st = rec.status(id)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("reset breaker %s: %w", id, err)
	}
	g.log.Info("circuit breaker reset", "breaker_id", id, "playbook", st.Playbook, "target", st.Target, "actor", actor)
	return st, nil
}
