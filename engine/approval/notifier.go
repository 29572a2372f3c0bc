package approval

import "github.com/firebreak/firebreak/engine/approval/notify"

// The notifier contract lives in the leaf package notify, so that an
// integration implements it without importing the gate; these are its
// names here.
type (
	// Notifier is what the gate needs of whatever tells people about an
	// approval; see notify.Notifier.
	Notifier = notify.Notifier
	// GroupChecker is a Notifier whose people belong to groups.
	GroupChecker = notify.GroupChecker
	// Replier is a Notifier that can answer one person privately.
	Replier = notify.Replier
	// MessageRef locates a posted request.
	MessageRef = notify.MessageRef
	// Request is what a notifier shows of an approval request.
	Request = notify.Request
	// State is what an updated message shows under the request.
	State = notify.State
)

// Click is a decision that reached the gate through a notifier's message (a
// Slack button). The HTTP layer verifies the callback before building it.
type Click struct {
	ApprovalID string
	PlanHash   string
	Decision   Decision
	// UserID and UserName name who clicked; Channel is where, for a reply.
	UserID   string
	UserName string
	Channel  string
	// Via names the notifier in the audit record ("slack", the default);
	// anything but ViaAPI is checked against the allow-list.
	Via string
}
