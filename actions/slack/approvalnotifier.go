package slack

import (
	"context"

	"github.com/firebreak/firebreak/engine/approval"
)

// ApprovalNotifier is the approval gate's notifier for Slack: it posts the
// request with Approve and Deny buttons, rewrites it as the approval is
// decided, answers refused clicks with an ephemeral message and resolves
// user groups. It implements approval.Notifier, approval.GroupChecker and
// approval.Replier.
type ApprovalNotifier struct {
	c *Client
}

var (
	_ approval.Notifier     = (*ApprovalNotifier)(nil)
	_ approval.GroupChecker = (*ApprovalNotifier)(nil)
	_ approval.Replier      = (*ApprovalNotifier)(nil)
)

// NewApprovalNotifier returns the approval notifier that posts with c.
func NewApprovalNotifier(c *Client) *ApprovalNotifier { return &ApprovalNotifier{c: c} }

// Available reports why the client cannot post.
func (n *ApprovalNotifier) Available() error { return n.c.Available() }

// PostRequest posts r; the reference is the channel id and the message ts.
func (n *ApprovalNotifier) PostRequest(ctx context.Context, r approval.Request) (approval.MessageRef, error) {
	channel, ts, err := n.c.PostApproval(ctx, r)
	if err != nil {
		return approval.MessageRef{}, err
	}
	return approval.MessageRef{Channel: channel, ID: ts}, nil
}

// UpdateRequest rewrites the message at ref (chat.update).
func (n *ApprovalNotifier) UpdateRequest(ctx context.Context, ref approval.MessageRef, r approval.Request, st approval.State) error {
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
