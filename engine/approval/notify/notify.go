package notify

import (
	"context"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Status is where an approval stands.
type Status string

// Statuses. Only pending can change.
const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusDenied    Status = "denied"
	StatusExpired   Status = "expired"
	StatusCancelled Status = "cancelled"
)

// GuardVerdict is a guard's verdict at the time the step was parked.
type GuardVerdict struct {
	Guard   string `json:"guard"`
	OK      bool   `json:"ok"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
}

// Notifier is what the gate needs of whatever tells people about an
// approval: post the request once, then rewrite it as the approval is
// decided and its step runs. actions/slack implements it for Slack; any
// other channel (a webhook, the dashboard) implements the same three
// methods, and the gate does not change.
//
// The gate never calls a Notifier inside a store transaction, and at most
// one call per approval is in flight at a time.
type Notifier interface {
	// Available reports why the notifier cannot post (no token, no
	// channel); a non-nil error leaves approvals to the API.
	Available() error
	// PostRequest announces r and returns where the message is, so that
	// UpdateRequest can find it again.
	PostRequest(ctx context.Context, r Request) (MessageRef, error)
	// UpdateRequest rewrites the message at ref to show st.
	UpdateRequest(ctx context.Context, ref MessageRef, r Request, st State) error
}

// GroupChecker is implemented by a Notifier whose people belong to groups
// (Slack user groups): the gate asks it whether a decider who is not
// allow-listed by id is in one of the allowed groups.
type GroupChecker interface {
	UserInGroups(ctx context.Context, userID string, groupIDs []string) (bool, error)
}

// Replier is implemented by a Notifier that can answer one person
// privately (a Slack ephemeral message): the gate tells a decider whose
// click was refused why.
type Replier interface {
	Reply(ctx context.Context, channel, userID, text string) error
}

// MessageRef locates a posted request: the channel it went to and the
// notifier's id of the message (a Slack ts). Both are opaque to the gate.
type MessageRef struct {
	Channel string
	ID      string
}

// Request is what a notifier shows of an approval request. Secret
// parameters are already redacted.
type Request struct {
	// ID is the approval id; PlanHash binds a decision to the exact plan.
	ID       string
	PlanHash string
	// Channel is where to post; it is the gate's Config.Channel unless the message
	// was already posted elsewhere.
	Channel string
	// Event is what fired, without its raw payload; may be nil.
	Event *event.Event
	// Playbook, Action (kubernetes.restart) and Target (Deployment/shop/cart)
	// say what would run.
	Playbook string
	Action   string
	Target   string
	// Params are the rendered parameters, secrets redacted.
	Params map[string]any
	// Guards are the guards' verdicts when the step was parked.
	Guards []GuardVerdict
	// ExpiresAt is when the approval is denied by default.
	ExpiresAt time.Time
	// Required is how many distinct people must approve.
	Required int
	// RequestedBy names who asked, when known.
	RequestedBy string
}

// State is what an updated message shows under the request.
type State struct {
	Status Status
	// By lists who decided so far (user ids, or api:TOKEN-NAME); for a
	// pending approval under the two-person rule, the approvals so far.
	By []string
	// At is when the decision was made; zero for a pending approval.
	At time.Time
	// Reason says why, for denied, expired and cancelled approvals.
	Reason string
	// Outcome is what the approved step did; Failed marks a failure.
	Outcome string
	Failed  bool
}
