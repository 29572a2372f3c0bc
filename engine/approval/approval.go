package approval

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/firebreak/firebreak/engine/approval/notify"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

// State buckets the approval gate owns.
const (
	// BucketApprovals maps an approval id to its JSON record. Decided
	// approvals stay until Retention has passed.
	BucketApprovals = "approvals"
	// bucketPending maps the id of every pending approval to its expiry
	// (RFC 3339), so the sweeper reads only what can still expire.
	bucketPending = "approvals_pending"
	// bucketByPlan maps an engine plan key to its approval id.
	bucketByPlan = "approvals_by_plan"
)

// Status is where an approval stands.
type Status = notify.Status

// Statuses. Only pending can change.
const (
	StatusPending   = notify.StatusPending
	StatusApproved  = notify.StatusApproved
	StatusDenied    = notify.StatusDenied
	StatusExpired   = notify.StatusExpired
	StatusCancelled = notify.StatusCancelled
)

// ParseStatusFilter reads a status filter as the API and the dashboard take
// it: a status, or "all" (or "") for every one, which it returns as "".
// Anything else is ErrBadStatus.
func ParseStatusFilter(s string) (Status, error) {
	switch st := Status(s); st {
	case "all", "":
		return "", nil
	case StatusPending, StatusApproved, StatusDenied, StatusExpired, StatusCancelled:
		return st, nil
	}
	return "", ErrBadStatus
}

// Decision is what a decider asks for.
type Decision string

// Decisions.
const (
	Approve Decision = "approve"
	Deny    Decision = "deny"
)

// Ways a decision reaches the gate. ViaAPI and ViaDashboard come from a
// caller an API token authorised (its role was checked by web); any other
// way is a click on a notifier's message, whose user must be allow-listed.
const (
	ViaSlack     = "slack"
	ViaAPI       = "api"
	ViaDashboard = "dashboard"
)

// tokenAuthorised reports whether a decision arriving via came from a
// caller authorised by an API token rather than a notifier click.
func tokenAuthorised(via string) bool { return via == ViaAPI || via == ViaDashboard }

// Audit outcomes of approval records (kind audit.KindApproval).
const (
	OutcomeApproved  = "approved"  // the approval is complete; the step runs
	OutcomeCounted   = "counted"   // one approval of several (two-person rule)
	OutcomeDenied    = "denied"    // a person denied it
	OutcomeExpired   = "expired"   // nobody decided in time
	OutcomeCancelled = "cancelled" // the alert resolved
	OutcomeRefused   = "refused"   // a decision was refused; nothing changed
)

// Actor is who made a decision: a Slack user id (U…) with their user name,
// or an API token's name.
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Vote is one recorded decision.
type Vote struct {
	By   string    `json:"by"`
	Name string    `json:"name,omitempty"`
	Via  string    `json:"via"`
	At   time.Time `json:"at"`
}

// GuardVerdict is a guard's verdict at the time the step was parked.
type GuardVerdict = notify.GuardVerdict

// Approval is one parked step waiting for, or decided by, humans.
type Approval struct {
	ID string `json:"id"`
	// PlanHash is PlanHash(Action, rendered parameters): a decision binds
	// to it and the engine refuses to run a step whose plan differs.
	PlanHash string `json:"plan_hash"`
	// PlanKey is the engine's key of the step (event|playbook|phase|index).
	PlanKey string `json:"plan_key"`
	Status  Status `json:"status"`

	EventSeq    uint64 `json:"event_seq"`
	EventID     string `json:"event_id"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Source      string `json:"source,omitempty"`
	// Event is the triggering event without its raw payload, for messages.
	Event *event.Event `json:"event,omitempty"`

	Playbook string `json:"playbook"`
	Phase    string `json:"phase"`
	Step     int    `json:"step"`
	StepName string `json:"step_name,omitempty"`
	Action   string `json:"action"`
	Target   string `json:"target,omitempty"`
	// Params are the rendered parameters with secret values redacted.
	Params map[string]any `json:"params,omitempty"`
	Guards []GuardVerdict `json:"guards,omitempty"`

	RequestedAt time.Time `json:"requested_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// Required is how many distinct people must approve.
	Required int `json:"required"`
	// RequestedBy is the identity that asked for the action, when known.
	RequestedBy string `json:"requested_by,omitempty"`

	// Approvals holds the approvals so far, in order.
	Approvals []Vote `json:"approvals,omitempty"`
	// DecidedAt and DecidedBy are set when the status left pending;
	// DecidedBy is nil for an expiry or a cancellation.
	DecidedAt time.Time `json:"decided_at,omitzero"`
	DecidedBy *Vote     `json:"decided_by,omitempty"`
	Reason    string    `json:"reason,omitempty"`

	// Executed is set once the engine was asked to run the approved step;
	// Outcome is what happened ("POST … → 200", "refused: budget_exhausted").
	Executed bool   `json:"executed,omitempty"`
	Outcome  string `json:"outcome,omitempty"`
	Failed   bool   `json:"failed,omitempty"`

	// MessageChannel and MessageID locate the notifier's message, once
	// posted (a Slack channel and ts). The JSON names predate notifiers
	// other than Slack and stay so that stored approvals still load.
	MessageChannel string `json:"slack_channel,omitempty"`
	MessageID      string `json:"slack_ts,omitempty"`
	// NotifyAttempts counts failed attempts to post the message.
	NotifyAttempts int       `json:"notify_attempts,omitempty"`
	NotifyAt       time.Time `json:"notify_at,omitzero"`
}

// Approvers returns the ids of everyone who approved so far.
func (a *Approval) Approvers() []string {
	out := make([]string, len(a.Approvals))
	for i, v := range a.Approvals {
		out[i] = v.By
	}
	return out
}

// PlanHash returns the hex SHA-256 that binds an approval to one plan: the
// action id and the rendered parameters in canonical JSON (object keys
// sorted, as encoding/json writes maps).
func PlanHash(actionID string, params map[string]any) (string, error) {
	if params == nil {
		params = map[string]any{}
	}
	b, err := json.Marshal(params)
	if err != nil {
		return "", fmt.Errorf("plan hash: encode parameters: %w", err)
	}
	h := sha256.New()
	h.Write([]byte("firebreak.plan.v1\n"))
	h.Write([]byte(actionID))
	h.Write([]byte{'\n'})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// idFor returns the approval id of a plan key: stable, so a re-run of the
// parking transaction writes the same record.
func idFor(planKey string) string {
	sum := sha256.Sum256([]byte(planKey))
	return "apr-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}

func load(tx state.Tx, id string) (*Approval, error) {
	raw := tx.Get(BucketApprovals, id)
	if raw == nil {
		return nil, nil
	}
	var a Approval
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("decode approval %s: %w", id, err)
	}
	return &a, nil
}

// keys returns a bucket's keys, so that the caller can load (and change)
// each entry without writing inside the iteration.
func keys(tx state.Tx, bucket string) ([]string, error) {
	var out []string
	err := tx.ForEach(bucket, func(k string, _ []byte) error {
		out = append(out, k)
		return nil
	})
	return out, err
}

func save(tx state.Tx, a *Approval) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode approval %s: %w", a.ID, err)
	}
	if err := tx.Put(BucketApprovals, a.ID, b); err != nil {
		return err
	}
	if a.Status == StatusPending {
		return tx.Put(bucketPending, a.ID, []byte(a.ExpiresAt.UTC().Format(time.RFC3339Nano)))
	}
	return tx.Delete(bucketPending, a.ID)
}

// Viewer runs read-only transactions; the store (also opened read-only, for
// the CLI) implements it.
type Viewer interface {
	View(ctx context.Context, fn func(state.Tx) error) error
}

// Filter selects approvals for List.
type Filter struct {
	// Status, when set, keeps only approvals in that status.
	Status Status
	// PendingOnly reads only the pending index (cheap).
	PendingOnly bool
}

// List returns the approvals matching f, newest request first.
func List(ctx context.Context, v Viewer, f Filter) ([]Approval, error) {
	var out []Approval
	err := v.View(ctx, func(tx state.Tx) error {
		out = out[:0]
		if f.PendingOnly || f.Status == StatusPending {
			ids, err := keys(tx, bucketPending)
			if err != nil {
				return err
			}
			for _, id := range ids {
				a, err := load(tx, id)
				if err != nil {
					return err
				}
				if a != nil && a.Status == StatusPending {
					out = append(out, *a)
				}
			}
			return nil
		}
		return tx.ForEach(BucketApprovals, func(_ string, raw []byte) error {
			var a Approval
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("decode approval: %w", err)
			}
			if f.Status == "" || a.Status == f.Status {
				out = append(out, a)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].RequestedAt.After(out[j].RequestedAt) })
	return out, nil
}

// Get returns one approval, or an error wrapping ErrNotFound.
func Get(ctx context.Context, v Viewer, id string) (Approval, error) {
	var out *Approval
	err := v.View(ctx, func(tx state.Tx) error {
		a, err := load(tx, id)
		out = a
		return err
	})
	if err != nil {
		return Approval{}, err
	}
	if out == nil {
		return Approval{}, fmt.Errorf("approval %s: %w", id, ErrNotFound)
	}
	return *out, nil
}
