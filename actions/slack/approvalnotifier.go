package slack

import (
	"context"

	"github.com/firebreak/firebreak/engine/approval/notify"
)

// ApprovalNotifier is the approval gate's notifier for Slack: it posts the
// request with Approve and Deny buttons, rewrites it as the approval is
// decided, answers refused clicks with an ephemeral message and resolves
// user groups. It implements notify.Notifier, notify.GroupChecker and
// notify.Replier.
type ApprovalNotifier struct {
	c *Client
}

var (
	_ notify.Notifier     = (*ApprovalNotifier)(nil)
	_ notify.GroupChecker = (*ApprovalNotifier)(nil)
	_ notify.Replier      = (*ApprovalNotifier)(nil)
)

// NewApprovalNotifier returns the approval notifier that posts with c.
func NewApprovalNotifier(c *Client) *ApprovalNotifier { return &ApprovalNotifier{c: c} }

// Available reports why the client cannot post.
func (n *ApprovalNotifier) Available() error { return n.c.Available() }

// PostRequest posts r; the reference is the channel id and the message ts.
func (n *ApprovalNotifier) PostRequest(ctx context.Context, r notify.Request) (notify.MessageRef, error) {
	channel, ts, err := n.c.PostApproval(ctx, r)
	if err != nil {
		return notify.MessageRef{}, err
	}
	return notify.MessageRef{Channel: channel, ID: ts}, nil
}

// UpdateRequest rewrites the message at ref (chat.update).
func (n *ApprovalNotifier) UpdateRequest(ctx context.Context, ref notify.MessageRef, r notify.Request, st notify.State) error {
	return n.c.UpdateApproval(ctx, ref.Channel, ref.ID, r, st)
}

// UserInGroups reports whether userID is in one of the Slack user groups.
func (n *ApprovalNotifier) UserInGroups(ctx context.Context, userID string, groupIDs []string) (bool, error) {
	return n.c.UserInGroups(ctx, userID, groupIDs)
}

// Reply tells userID privately, in channel, why their click was refused.
func (n *ApprovalNotifier) Reply(ctx context.Context, channel, userID, text string) error {
	return n.c.PostEphemeral(ctx, channel, userID, text)
}
