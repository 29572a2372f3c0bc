package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/keylock"
	"github.com/firebreak/firebreak/engine/state"
)

// Store is what the gate needs of the store.
type Store interface {
	// Update runs fn in a durable, atomic transaction; fn may run more
	// than once.
	Update(ctx context.Context, fn func(state.Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(state.Tx) error) error
}

// ContinueFunc runs an approved step, then the steps after it; it has the
// signature of engine.Engine.Continue.
type ContinueFunc func(ctx context.Context, seq uint64, playbook, phase string, from int, approvedBy string) error

// TrailFunc returns the audit records of eventID and playbook written at or
// after since, in order. The gate reads the approved step's outcome from it.
type TrailFunc func(ctx context.Context, eventID, playbook string, since time.Time) ([]audit.Record, error)

// Config configures a Service.
type Config struct {
	Store Store
	// Notifier posts and updates the messages (actions/slack implements
	// it for Slack); nil, or one whose Available fails, leaves approvals to
	// the API.
	Notifier Notifier
	// Channel is where approval messages go.
	Channel string
	// AllowedUsers are the user ids (Slack: U…, W…) that may decide
	// through the notifier's messages.
	AllowedUsers []string
	// AllowedGroups are group ids (Slack user groups, S…) whose members may
	// decide; they need a Notifier that is a GroupChecker.
	AllowedGroups []string
	// DefaultExpiry applies when the playbook sets no approval.expires
	// (default 30m).
	DefaultExpiry time.Duration
	// DefaultApprovers applies when the playbook sets no approval.approvers
	// (default 1).
	DefaultApprovers int
	// Continue runs an approved step. It is read when an approval is
	// complete, so it may be bound after the engine is built.
	Continue ContinueFunc
	// Trail, when set, lets the gate report the approved step's outcome in
	// the message.
	Trail TrailFunc
	// Requester names who asked for a plan, when known: the app evaluates
	// the playbook's approval.requester. Nil or "" means nobody but the
	// playbook.
	Requester func(p *engine.Plan) string
	// Now is the clock (default time.Now); expiry is judged by it.
	Now func() time.Time
	// Logger receives what went wrong outside a caller's reach.
	Logger *slog.Logger
	// SweepInterval is how often Run expires approvals (default 5s).
	SweepInterval time.Duration
	// Retention is how long decided approvals are kept (default 30 days).
	Retention time.Duration
	// RepostAfter is how long after a failed post the sweeper tries again
	// (default 1m).
	RepostAfter time.Duration
	// Observer, when set, is told of every decision once it is committed
	// (the metrics: decisions by outcome and how long they waited).
	Observer Observer
}

// Observer receives the gate's decisions after they are committed:
// approved, denied, expired or cancelled, with the time from the request
// to the decision (negative when either time is unknown). Implementations
// must be cheap and must not block; they are called on the deciding
// goroutine.
type Observer interface {
	ApprovalDecided(decision string, waited time.Duration)
}

// observe reports the decided approvals to the configured Observer.
func (s *Service) observe(decided ...Approval) {
	if s.cfg.Observer == nil {
		return
	}
	for _, a := range decided {
		waited := time.Duration(-1)
		if !a.RequestedAt.IsZero() && !a.DecidedAt.IsZero() {
			waited = a.DecidedAt.Sub(a.RequestedAt)
		}
		s.cfg.Observer.ApprovalDecided(string(a.Status), waited)
	}
}

// Service is the approval gate. It implements engine.Approver and
// engine.ApprovalChecker. It is safe for concurrent use.
type Service struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	users map[string]bool

	locks keylock.Map // one message change at a time per approval
	wg    sync.WaitGroup

	mu        sync.Mutex
	running   map[string]bool // approvals whose step is being run
	lastPrune time.Time
}

var (
	_ engine.Approver        = (*Service)(nil)
	_ engine.ApprovalChecker = (*Service)(nil)
)

// New returns a Service for cfg.
func New(cfg Config) *Service {
	if cfg.DefaultExpiry <= 0 {
		cfg.DefaultExpiry = 30 * time.Minute
	}
	if cfg.DefaultApprovers <= 0 {
		cfg.DefaultApprovers = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 5 * time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.RepostAfter <= 0 {
		cfg.RepostAfter = time.Minute
	}
	users := map[string]bool{}
	for _, u := range cfg.AllowedUsers {
		users[u] = true
	}
	return &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, users: users, running: map[string]bool{}}
}

// Park records a pending approval for p inside the engine's claiming
// transaction. It only writes state; Notify posts the message.
func (s *Service) Park(tx state.Tx, p *engine.Plan, verdicts []engine.Verdict) (string, error) {
	hash, err := PlanHash(p.Step.Action, p.Params)
	if err != nil {
		return "", err
	}
	key := p.Key()
	id := idFor(key)
	if a, err := load(tx, id); err != nil {
		return "", err
	} else if a != nil && a.PlanHash == hash {
		return id, nil
	}
	now := s.now()
	expiry, required := s.cfg.DefaultExpiry, s.cfg.DefaultApprovers
	if ap := p.Playbook.Approval; ap != nil {
		if ap.Expires > 0 {
			expiry = ap.Expires
		}
		if ap.Approvers > 0 {
			required = ap.Approvers
		}
	}
	ev := *p.Event
	ev.Raw = nil
	a := &Approval{
		ID: id, PlanHash: hash, PlanKey: key, Status: StatusPending,
		EventSeq: p.Seq, EventID: ev.ID, Fingerprint: ev.Fingerprint, Source: ev.Source, Event: &ev,
		Playbook: p.Playbook.Name, Phase: p.Phase, Step: p.Step.Index, StepName: p.Step.Name,
		Action: p.Step.Action, Target: p.Target.String(), Params: engine.Redact(p.Action.Spec(), p.Params),
		RequestedAt: now, ExpiresAt: now.Add(expiry), Required: required,
	}
	if s.cfg.Requester != nil {
		a.RequestedBy = s.cfg.Requester(p)
	}
	for _, v := range verdicts {
		g := GuardVerdict{Guard: "guards", OK: v.Allowed(), Verdict: "pass", Detail: v.Message}
		if !v.Allowed() {
			g.Verdict = string(v.Reason)
		}
		a.Guards = append(a.Guards, g)
	}
	if err := save(tx, a); err != nil {
		return "", err
	}
	if err := tx.Put(bucketByPlan, key, []byte(id)); err != nil {
		return "", err
	}
	return id, nil
}

// Notify posts the approval message through the notifier and remembers
// where it is. Without a usable notifier it does nothing: the approval can still be
// decided through the API.
func (s *Service) Notify(ctx context.Context, id string) error {
	return s.post(ctx, id)
}

// CheckApproved confirms, inside the engine's claiming transaction, that
// the plan about to run is the one that was approved.
func (s *Service) CheckApproved(tx state.Tx, p *engine.Plan) (engine.Verdict, error) {
	raw := tx.Get(bucketByPlan, p.Key())
	if raw == nil {
		return engine.Verdict{Reason: engine.ReasonNotApproved, Message: "no approval exists for this step"}, nil
	}
	a, err := load(tx, string(raw))
	if err != nil {
		return engine.Verdict{}, err
	}
	if a == nil || a.Status != StatusApproved {
		return engine.Verdict{Reason: engine.ReasonNotApproved, Message: "approval " + string(raw) + " is not approved"}, nil
	}
	hash, err := PlanHash(p.Step.Action, p.Params)
	if err != nil {
		return engine.Verdict{}, err
	}
	if hash != a.PlanHash {
		return engine.Verdict{Reason: engine.ReasonPlanChanged, Message: "the step's action or parameters changed since approval " + a.ID + " was given; it was not run"}, nil
	}
	return engine.Verdict{}, nil
}

// Cancel cancels the pending approvals of the alert behind ev (same source
// and fingerprint, or the same event) because it resolved.
func (s *Service) Cancel(ctx context.Context, ev *event.Event) error {
	var (
		ids     []string
		decided []Approval
	)
	err := s.cfg.Store.Update(ctx, func(tx state.Tx) error {
		ids, decided = ids[:0], decided[:0]
		pending, err := keys(tx, bucketPending)
		if err != nil {
			return err
		}
		now := s.now()
		for _, id := range pending {
			a, err := load(tx, id)
			if err != nil {
				return err
			}
			if a == nil || a.Status != StatusPending || a.Phase != engine.PhaseSteps {
				continue
			}
			same := a.EventID == ev.ID || (ev.Fingerprint != "" && a.Fingerprint == ev.Fingerprint && a.Source == ev.Source)
			if !same {
				continue
			}
			a.Status, a.DecidedAt, a.Reason = StatusCancelled, now, "the alert resolved"
			if err := save(tx, a); err != nil {
				return err
			}
			r := s.record(a, OutcomeCancelled, "cancelled: the alert resolved")
			r.Data["resolved_event_id"] = ev.ID
			if err := tx.Audit(r); err != nil {
				return err
			}
			ids, decided = append(ids, id), append(decided, *a)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cancel approvals of %s: %w", ev.ID, err)
	}
	s.observe(decided...)
	for _, id := range ids {
		s.log.Info("approval cancelled: the alert resolved", "approval_id", id, "event_id", ev.ID)
		s.spawn(ctx, time.Minute, func(ctx context.Context) { s.refresh(ctx, id) })
	}
	return nil
}

// Decide records a decision on approval id. planHash must be the
// approval's plan hash. via is ViaAPI or the way a click on a notifier's
// message came (ViaSlack): a clicking user must be allow-listed (by id or
// group); an API or dashboard caller (ViaAPI, ViaDashboard) was authorised
// by its token. A refusal is audited and returned as an error wrapping one of the
// package's sentinels; it changes nothing. A second decision on a decided
// approval is such a refusal (ErrDecided). When the approval completes, the
// step is handed to the engine in the background.
func (s *Service) Decide(ctx context.Context, id, planHash string, d Decision, actor Actor, via string) (Approval, error) {
	notAllowed := false
	if !tokenAuthorised(via) {
		ok, err := s.allowed(ctx, actor.ID)
		if err != nil {
			s.log.Warn("checking user groups failed", "user", actor.ID, "error", err)
		}
		notAllowed = !ok
	}
	var (
		res     Approval
		refusal error
		effect  bool
		final   bool
		decided []Approval // expired, denied or approved by this call
	)
	err := s.cfg.Store.Update(ctx, func(tx state.Tx) error {
		res, refusal, effect, final, decided = Approval{}, nil, false, false, nil
		now := s.now()
		refuse := func(a *Approval, why error) error {
			refusal = why
			var r audit.Record
			if a != nil {
				r = s.record(a, OutcomeRefused, "refused: "+why.Error())
			} else {
				r = audit.Record{Kind: audit.KindApproval, Outcome: OutcomeRefused, Message: "refused: " + why.Error(), Data: map[string]any{"approval_id": id}}
			}
			r.Actor = actor.ID
			r.Data["via"], r.Data["decision"] = via, string(d)
			if actor.Name != "" {
				r.Data["actor_name"] = actor.Name
			}
			return tx.Audit(r)
		}
		a, err := load(tx, id)
		if err != nil {
			return err
		}
		if a != nil {
			res = *a
		}
		switch {
		case notAllowed:
			return refuse(a, ErrNotAllowed)
		case d != Approve && d != Deny:
			return refuse(a, ErrBadDecision)
		case a == nil:
			return refuse(nil, ErrNotFound)
		case planHash != a.PlanHash:
			return refuse(a, ErrPlanMismatch)
		case a.Status != StatusPending:
			return refuse(a, fmt.Errorf("%w (%s)", ErrDecided, a.Status))
		case !now.Before(a.ExpiresAt):
			if err := s.expire(tx, a, now); err != nil {
				return err
			}
			res, effect, decided = *a, true, []Approval{*a}
			return refuse(a, ErrExpired)
		}
		vote := Vote{By: actor.ID, Name: actor.Name, Via: via, At: now}
		var r audit.Record
		if d == Deny {
			a.Status, a.DecidedAt, a.DecidedBy = StatusDenied, now, &vote
			r = s.record(a, OutcomeDenied, "denied by "+actor.ID+" via "+via)
		} else {
			if a.Required > 1 && a.RequestedBy != "" && actor.ID == a.RequestedBy {
				return refuse(a, ErrRequester)
			}
			for _, v := range a.Approvals {
				if v.By == actor.ID {
					return refuse(a, ErrAlreadyApproved)
				}
			}
			a.Approvals = append(a.Approvals, vote)
			if len(a.Approvals) >= a.Required {
				a.Status, a.DecidedAt, a.DecidedBy = StatusApproved, now, &vote
				final = true
				r = s.record(a, OutcomeApproved, fmt.Sprintf("approved by %s via %s", strings.Join(a.Approvers(), ", "), via))
			} else {
				r = s.record(a, OutcomeCounted, fmt.Sprintf("approval %d of %d by %s via %s; waiting for another approver", len(a.Approvals), a.Required, actor.ID, via))
			}
		}
		r.Actor = actor.ID
		r.Data["via"], r.Data["decision"] = via, string(d)
		if actor.Name != "" {
			r.Data["actor_name"] = actor.Name
		}
		if err := save(tx, a); err != nil {
			return err
		}
		res, effect = *a, true
		if a.Status != StatusPending {
			decided = []Approval{*a}
		}
		return tx.Audit(r)
	})
	if err != nil {
		return Approval{}, fmt.Errorf("decide approval %s: %w", id, err)
	}
	s.observe(decided...)
	log := s.log.With("approval_id", id, "actor", actor.ID, "via", via, "decision", string(d))
	if effect {
		s.spawn(ctx, time.Minute, func(ctx context.Context) { s.refresh(ctx, id) })
	}
	if final {
		log.Info("approval complete; running the step")
		s.spawn(ctx, time.Hour, func(ctx context.Context) { s.execute(ctx, id) })
	}
	if refusal != nil {
		log.Info("decision refused", "reason", refusal.Error())
		return res, fmt.Errorf("approval %s: %w", id, refusal)
	}
	log.Info("decision recorded", "status", string(res.Status))
	return res, nil
}

// Allowed reports whether the user clicking a notifier's message is on
// the allow-list (AllowedUsers, or a member of AllowedGroups when the
// notifier is a GroupChecker). Other clicked controls that need the same
// trust, such as a breaker's Reset button, ask it too.
func (s *Service) Allowed(ctx context.Context, userID string) (bool, error) {
	return s.allowed(ctx, userID)
}

// allowed reports whether a user clicking a message may decide.
func (s *Service) allowed(ctx context.Context, userID string) (bool, error) {
	if userID == "" {
		return false, nil
	}
	if s.users[userID] {
		return true, nil
	}
	gc, ok := s.cfg.Notifier.(GroupChecker)
	if len(s.cfg.AllowedGroups) == 0 || !ok {
		return false, nil
	}
	return gc.UserInGroups(ctx, userID, s.cfg.AllowedGroups)
}

// HandleClick decides a verified click on a notifier's message and, when
// the notifier is a Replier, answers a refused one privately to the
// clicking user.
func (s *Service) HandleClick(ctx context.Context, in Click) {
	if in.Decision != Approve && in.Decision != Deny {
		return
	}
	via := in.Via
	if via == "" {
		via = ViaSlack
	}
	_, err := s.Decide(ctx, in.ApprovalID, in.PlanHash, in.Decision, Actor{ID: in.UserID, Name: in.UserName}, via)
	if err == nil || !s.notifierOK() {
		return
	}
	r, ok := s.cfg.Notifier.(Replier)
	if !ok {
		return
	}
	if perr := r.Reply(ctx, in.Channel, in.UserID, RefusalText(err)); perr != nil {
		s.log.Warn("telling a user their decision was refused failed", "user", in.UserID, "error", perr)
	}
}

// Submit runs HandleClick in the background, so the HTTP handler can
// answer within the notifier's deadline (Slack's three seconds).
func (s *Service) Submit(ctx context.Context, in Click) {
	s.spawn(ctx, time.Minute, func(ctx context.Context) { s.HandleClick(ctx, in) })
}

// notifierOK reports whether there is a notifier that can post.
func (s *Service) notifierOK() bool {
	return s.cfg.Notifier != nil && s.cfg.Notifier.Available() == nil
}

// RefusalText is what a person is told when their decision was refused.
func RefusalText(err error) string {
	switch {
	case errors.Is(err, ErrNotAllowed):
		return "You are not allowed to approve or deny Firebreak actions. Your click was recorded and changed nothing."
	case errors.Is(err, ErrDecided):
		return "This approval was already decided; your click changed nothing."
	case errors.Is(err, ErrAlreadyApproved):
		return "You already approved this. It needs another person's approval."
	case errors.Is(err, ErrRequester):
		return "You requested this action, so another person must approve it."
	case errors.Is(err, ErrExpired):
		return "This approval expired and was denied by default; nothing will run."
	case errors.Is(err, ErrPlanMismatch):
		return "This button belongs to a different plan; nothing was changed."
	case errors.Is(err, ErrNotFound):
		return "This approval does not exist (any more)."
	}
	return "Firebreak could not record your decision; please try again."
}

// expire marks a pending approval expired and audits it.
func (s *Service) expire(tx state.Tx, a *Approval, now time.Time) error {
	a.Status, a.DecidedAt, a.Reason = StatusExpired, now, "no decision before "+a.ExpiresAt.UTC().Format(time.RFC3339)
	if err := save(tx, a); err != nil {
		return err
	}
	return tx.Audit(s.record(a, OutcomeExpired, "expired without a decision; denied by default"))
}

// record is the audit record of a decision on a.
func (s *Service) record(a *Approval, outcome, msg string) audit.Record {
	return audit.Record{
		Kind: audit.KindApproval, EventID: a.EventID, Source: a.Source, Playbook: a.Playbook,
		Step: audit.StepIndex(a.Step), Action: a.Action, Target: a.Target, Outcome: outcome, Message: msg,
		Data: map[string]any{
			"approval_id": a.ID, "plan_hash": a.PlanHash, "phase": a.Phase,
			"required": a.Required, "approvals": a.Approvers(),
		},
	}
}

// execute hands an approved step to the engine, then records and shows
// its outcome. It runs at most once at a time per approval.
func (s *Service) execute(ctx context.Context, id string) {
	s.mu.Lock()
	if s.running[id] {
		s.mu.Unlock()
		return
	}
	s.running[id] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
	}()
	a, err := Get(ctx, s.cfg.Store, id)
	if err != nil || a.Status != StatusApproved || a.Executed {
		return
	}
	log := s.log.With("approval_id", id, "event_id", a.EventID, "playbook", a.Playbook, "step", a.Step)
	var runErr error
	if s.cfg.Continue == nil {
		runErr = errors.New("the engine is not running")
	} else {
		runErr = s.cfg.Continue(ctx, a.EventSeq, a.Playbook, a.Phase, a.Step, strings.Join(a.Approvers(), ","))
	}
	outcome, failed := s.outcome(ctx, &a, runErr)
	if runErr != nil {
		log.Error("running the approved step failed", "error", runErr)
	}
	err = s.cfg.Store.Update(ctx, func(tx state.Tx) error {
		cur, err := load(tx, id)
		if err != nil || cur == nil {
			return err
		}
		cur.Executed, cur.Outcome, cur.Failed = true, outcome, failed
		return save(tx, cur)
	})
	if err != nil {
		log.Error("recording the approved step's outcome failed", "error", err)
		return
	}
	log.Info("approved step finished", "outcome", outcome, "failed", failed)
	s.refresh(ctx, id)
}

// outcome reads what happened to the approved step from the audit trail.
func (s *Service) outcome(ctx context.Context, a *Approval, runErr error) (string, bool) {
	if runErr != nil {
		return "could not run: " + runErr.Error(), true
	}
	if s.cfg.Trail == nil {
		return "handed to the engine", false
	}
	recs, err := s.cfg.Trail(ctx, a.EventID, a.Playbook, a.DecidedAt)
	if err != nil {
		return "outcome unknown: " + err.Error(), true
	}
	var last *audit.Record
	for i := range recs {
		r := &recs[i]
		if r.Step == nil || *r.Step != a.Step || r.Action != a.Action {
			continue
		}
		phase, _ := r.Data["phase"].(string)
		if phase == "" {
			phase = engine.PhaseSteps
		}
		if phase != a.Phase {
			continue
		}
		switch r.Kind {
		case audit.KindStepSucceeded, audit.KindStepFailed, audit.KindStepRefused, audit.KindInterrupted, audit.KindStepDryRun, audit.KindStepSkipped, audit.KindStale:
			last = r
		}
	}
	if last == nil {
		return "no outcome was recorded (the step was decided earlier)", true
	}
	msg := last.Message
	switch last.Kind {
	case audit.KindStepSucceeded:
		if msg == "" {
			msg = "succeeded"
		}
		return msg, false
	case audit.KindStepDryRun, audit.KindStepSkipped:
		return msg, false
	case audit.KindStepRefused:
		return "refused by the guards (" + last.Outcome + "): " + msg, true
	case audit.KindInterrupted:
		return "interrupted: " + msg, true
	}
	return msg, true
}

// post posts the approval message when it has not been posted yet.
func (s *Service) post(ctx context.Context, id string) error {
	if !s.notifierOK() {
		return nil
	}
	unlock := s.locks.Lock(id)
	defer unlock()
	a, err := Get(ctx, s.cfg.Store, id)
	if err != nil {
		return err
	}
	if a.MessageID != "" {
		return nil
	}
	ref, perr := s.cfg.Notifier.PostRequest(ctx, s.request(&a))
	err = s.cfg.Store.Update(ctx, func(tx state.Tx) error {
		cur, err := load(tx, id)
		if err != nil || cur == nil {
			return err
		}
		if perr != nil {
			cur.NotifyAttempts++
			cur.NotifyAt = s.now()
		} else {
			cur.MessageChannel, cur.MessageID = ref.Channel, ref.ID
		}
		a = *cur
		return save(tx, cur)
	})
	if perr != nil {
		return fmt.Errorf("post approval %s: %w", id, perr)
	}
	if err != nil {
		return fmt.Errorf("remember the message of approval %s: %w", id, err)
	}
	if a.Status != StatusPending || len(a.Approvals) > 0 {
		// Decided while the message was on its way: show the decision.
		return s.update(ctx, &a)
	}
	return nil
}

// refresh rewrites the message of approval id to show its current state.
func (s *Service) refresh(ctx context.Context, id string) {
	if !s.notifierOK() {
		return
	}
	unlock := s.locks.Lock(id)
	defer unlock()
	a, err := Get(ctx, s.cfg.Store, id)
	if err != nil {
		s.log.Warn("loading an approval to update its message failed", "approval_id", id, "error", err)
		return
	}
	if err := s.update(ctx, &a); err != nil {
		s.log.Warn("updating the approval message failed", "approval_id", id, "error", err)
	}
}

func (s *Service) update(ctx context.Context, a *Approval) error {
	if a.MessageID == "" {
		return nil
	}
	return s.cfg.Notifier.UpdateRequest(ctx, MessageRef{Channel: a.MessageChannel, ID: a.MessageID}, s.request(a), MessageState(a))
}

// request is what the notifier shows of a's request.
func (s *Service) request(a *Approval) Request {
	r := Request{
		ID: a.ID, PlanHash: a.PlanHash, Channel: a.MessageChannel, Event: a.Event,
		Playbook: a.Playbook, Action: a.Action, Target: a.Target, Params: a.Params,
		Guards: append([]GuardVerdict(nil), a.Guards...), ExpiresAt: a.ExpiresAt,
		Required: a.Required, RequestedBy: a.RequestedBy,
	}
	if r.Channel == "" {
		r.Channel = s.cfg.Channel
	}
	return r
}

// MessageState is what the message shows for a.
func MessageState(a *Approval) State {
	st := State{Status: a.Status, At: a.DecidedAt, Reason: a.Reason}
	switch a.Status {
	case StatusPending:
		st.At = time.Time{}
		for _, v := range a.Approvals {
			st.By = append(st.By, shownAs(v))
		}
	case StatusApproved:
		for _, v := range a.Approvals {
			st.By = append(st.By, shownAs(v))
		}
		// Until the engine reports back, the message says who approved;
		// the outcome follows in the next update.
		st.Outcome, st.Failed = a.Outcome, a.Failed
	case StatusDenied:
		if a.DecidedBy != nil {
			st.By = []string{shownAs(*a.DecidedBy)}
		}
	}
	return st
}

// shownAs renders a decider: a Slack user id stays an id (the message
// mentions it); an API decider is already named api:TOKEN-NAME.
func shownAs(v Vote) string { return v.By }

// Sweep expires pending approvals whose time is up, retries messages that
// could not be posted and forgets decided approvals older than Retention.
// It returns how many approvals expired.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	var due, unposted []string
	notify := s.notifierOK()
	err := s.cfg.Store.View(ctx, func(tx state.Tx) error {
		due, unposted = due[:0], unposted[:0]
		ids, err := keys(tx, bucketPending)
		if err != nil {
			return err
		}
		for _, id := range ids {
			a, err := load(tx, id)
			if err != nil || a == nil {
				continue
			}
			switch {
			case !now.Before(a.ExpiresAt):
				due = append(due, id)
			case notify && a.MessageID == "" && now.Sub(a.NotifyAt) >= s.cfg.RepostAfter:
				unposted = append(unposted, id)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep approvals: %w", err)
	}
	var (
		expired []string
		decided []Approval
	)
	if len(due) > 0 {
		err = s.cfg.Store.Update(ctx, func(tx state.Tx) error {
			expired, decided = expired[:0], decided[:0]
			for _, id := range due {
				a, err := load(tx, id)
				if err != nil {
					return err
				}
				if a == nil || a.Status != StatusPending || now.Before(a.ExpiresAt) {
					continue
				}
				if err := s.expire(tx, a, now); err != nil {
					return err
				}
				expired, decided = append(expired, id), append(decided, *a)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("expire approvals: %w", err)
		}
		s.observe(decided...)
	}
	for _, id := range expired {
		s.log.Info("approval expired without a decision", "approval_id", id)
		s.refresh(ctx, id)
	}
	for _, id := range unposted {
		if err := s.post(ctx, id); err != nil {
			s.log.Warn("posting an approval message failed again", "approval_id", id, "error", err)
		}
	}
	if err := s.prune(ctx, now); err != nil {
		s.log.Warn("forgetting old approvals failed", "error", err)
	}
	return len(expired), nil
}

// prune deletes decided approvals older than Retention, at most hourly.
func (s *Service) prune(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	if now.Sub(s.lastPrune) < time.Hour {
		s.mu.Unlock()
		return nil
	}
	s.lastPrune = now
	s.mu.Unlock()
	cutoff := now.Add(-s.cfg.Retention)
	return s.cfg.Store.Update(ctx, func(tx state.Tx) error {
		var old []*Approval
		ids, err := keys(tx, BucketApprovals)
		if err != nil {
			return err
		}
		for _, id := range ids {
			a, err := load(tx, id)
			if err != nil || a == nil {
				continue
			}
			if a.Status != StatusPending && !a.DecidedAt.IsZero() && a.DecidedAt.Before(cutoff) && (a.Status != StatusApproved || a.Executed) {
				old = append(old, a)
			}
		}
		for _, a := range old {
			if err := tx.Delete(BucketApprovals, a.ID); err != nil {
				return err
			}
			if err := tx.Delete(bucketByPlan, a.PlanKey); err != nil {
				return err
			}
		}
		return nil
	})
}

// Run resumes approved steps that a restart interrupted before they were
// handed to the engine, then sweeps every SweepInterval until ctx ends.
func (s *Service) Run(ctx context.Context) {
	if err := s.Resume(ctx); err != nil {
		s.log.Error("resuming approved steps failed", "error", err)
	}
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil {
			s.log.Error("sweeping approvals failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Resume hands to the engine every approved step that was not handed over
// yet (the process stopped between the approval and the run). The engine
// will not run a step twice: one that had started is reported interrupted.
func (s *Service) Resume(ctx context.Context) error {
	list, err := List(ctx, s.cfg.Store, Filter{Status: StatusApproved})
	if err != nil {
		return err
	}
	for _, a := range list {
		if !a.Executed {
			id := a.ID
			s.log.Info("resuming an approved step after a restart", "approval_id", id)
			s.spawn(ctx, time.Hour, func(ctx context.Context) { s.execute(ctx, id) })
		}
	}
	return nil
}

// Close waits for background work (message updates, approved steps) to
// finish.
func (s *Service) Close() error {
	s.wg.Wait()
	return nil
}

// Wait is Close for tests: it returns when no background work is left.
func (s *Service) Wait() { s.wg.Wait() }

// spawn runs fn in the background with a context that outlives the
// caller's (an HTTP request) but is bounded by limit.
func (s *Service) spawn(ctx context.Context, limit time.Duration, fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
		defer cancel()
		fn(c)
	}()
}
