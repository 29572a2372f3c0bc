package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/firebreak/firebreak/engine/approval/notify"
)

// Action ids of the approval buttons, and the block id of their row.
const (
	ActionApprove = "firebreak_approve"
	ActionDeny    = "firebreak_deny"
	ApprovalBlock = "firebreak_approval"
)

// DecisionValue returns the value carried by the approval buttons: the
// approval id and the plan hash, joined by a colon.
func DecisionValue(id, planHash string) string { return id + ":" + planHash }

// ParseDecisionValue splits a button value made by DecisionValue. The plan
// hash is what follows the last colon, so ids may contain colons; a value
// without a colon is an id with no hash.
func ParseDecisionValue(v string) (id, planHash string) {
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return v, ""
}

// checkApproval refuses a request whose buttons could not carry it.
func checkApproval(m notify.Request) error {
	switch {
	case m.ID == "":
		return fmt.Errorf("%w: empty id", ErrInvalidApproval)
	case m.PlanHash == "":
		return fmt.Errorf("%w: empty plan hash", ErrInvalidApproval)
	case strings.Contains(m.PlanHash, ":"):
		return fmt.Errorf("%w: plan hash contains a colon", ErrInvalidApproval)
	case len(DecisionValue(m.ID, m.PlanHash)) > maxButtonValue:
		return fmt.Errorf("%w: id and plan hash longer than %d bytes", ErrInvalidApproval, maxButtonValue)
	}
	return nil
}

// PostApproval posts an approval request with Approve and Deny buttons to
// m.Channel (or the default channel) and returns the channel id and message
// timestamp that UpdateApproval needs.
func (c *Client) PostApproval(ctx context.Context, m notify.Request) (channel, ts string, err error) {
	if err := checkApproval(m); err != nil {
		return "", "", err
	}
	blocks, fallback := c.approvalBlocks(m, notify.State{Status: notify.StatusPending})
	return c.postMessage(ctx, m.Channel, blocks, fallback)
}

// UpdateApproval rewrites the approval message at channel and ts (chat.update)
// to show state under the original request m. The buttons stay only while
// the approval is pending.
func (c *Client) UpdateApproval(ctx context.Context, channel, ts string, m notify.Request, state notify.State) error {
	if err := checkApproval(m); err != nil {
		return err
	}
	blocks, fallback := c.approvalBlocks(m, state)
	return c.updateMessage(ctx, ErrInvalidApproval, channel, ts, blocks, fallback)
}

// postMessage posts blocks, with fallback as the notification text, to
// channel or else the default channel, unfurling no links, and returns
// where the message went. It is how the approval and breaker messages are
// sent (slack.notify posts its own: it threads).
func (c *Client) postMessage(ctx context.Context, channel string, blocks []slack.Block, fallback string) (string, string, error) {
	if channel == "" {
		channel = c.defaultChan
	}
	if channel == "" {
		return "", "", ErrNoChannel
	}
	if err := c.Available(); err != nil {
		return "", "", err
	}
	postedChannel, ts, err := c.api.PostMessageContext(ctx, channel,
		slack.MsgOptionText(fallback, false),
		slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
	)
	if err != nil {
		_, err = c.callError("chat.postMessage", err)
		return "", "", err
	}
	return postedChannel, ts, nil
}

// updateMessage rewrites the message at channel and ts (chat.update) to
// blocks and fallback. A missing channel or ts is invalid, the caller's
// sentinel wrapped.
func (c *Client) updateMessage(ctx context.Context, invalid error, channel, ts string, blocks []slack.Block, fallback string) error {
	if channel == "" || ts == "" {
		return fmt.Errorf("%w: no channel or message ts to update", invalid)
	}
	if err := c.Available(); err != nil {
		return err
	}
	_, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts,
		slack.MsgOptionText(fallback, false),
		slack.MsgOptionBlocks(blocks...),
	)
	_, err = c.callError("chat.update", err)
	return err
}

// PostEphemeral shows text to one user in channel only (chat.postEphemeral),
// for replies such as "you are not allowed to approve this". The text is
// shown as typed.
func (c *Client) PostEphemeral(ctx context.Context, channel, userID, text string) error {
	if err := c.Available(); err != nil {
		return err
	}
	_, err := c.api.PostEphemeralContext(ctx, channel, userID, slack.MsgOptionText(escape(text), false))
	_, err = c.callError("chat.postEphemeral", err)
	return err
}

// RespondEphemeral answers an interaction through its response_url with a
// message only the clicking user sees. It needs no token. The text is shown
// as typed.
func (c *Client) RespondEphemeral(ctx context.Context, responseURL, text string) error {
	u, err := url.Parse(responseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("slack response_url: not an http(s) url")
	}
	_, _, err = c.api.PostMessageContext(ctx, "",
		slack.MsgOptionText(escape(text), false),
		slack.MsgOptionResponseURL(responseURL, slack.ResponseTypeEphemeral),
	)
	_, err = c.callError("response_url", err)
	return err
}

// UserInGroups reports whether userID belongs to any of the user groups
// (S…) in groupIDs (usergroups.users.list, scope usergroups:read). It asks
// Slack on every call, so removing someone from a group takes effect at once.
func (c *Client) UserInGroups(ctx context.Context, userID string, groupIDs []string) (bool, error) {
	if userID == "" || len(groupIDs) == 0 {
		return false, nil
	}
	if err := c.Available(); err != nil {
		return false, err
	}
	for _, g := range groupIDs {
		members, err := c.api.GetUserGroupMembersContext(ctx, g)
		if err != nil {
			_, err = c.callError("usergroups.users.list", err)
			return false, fmt.Errorf("user group %s: %w", g, err)
		}
		for _, m := range members {
			if m == userID {
				return true, nil
			}
		}
	}
	return false, nil
}

var userIDRE = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// who renders a decider: a Slack user id as a mention, anything else as text.
func who(by []string) string {
	if len(by) == 0 {
		return "someone"
	}
	out := make([]string, len(by))
	for i, b := range by {
		if userIDRE.MatchString(b) {
			out[i] = "<@" + b + ">"
		} else {
			out[i] = escape(b)
		}
	}
	return strings.Join(out, ", ")
}

// slackDate renders t with Slack's date formatting (each reader's own time
// zone), falling back to UTC text.
func slackDate(t time.Time) string {
	fallback := t.UTC().Format("2006-01-02 15:04 UTC")
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), fallback)
}

// paramLines renders params as "name: json" lines, sorted by name.
func paramLines(params map[string]any) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		v, err := json.Marshal(params[k])
		if err != nil {
			v = []byte(fmt.Sprintf("%v", params[k]))
		}
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	return strings.TrimRight(b.String(), "\n")
}

// approvalBlocks renders an approval message in state, and its fallback text.
func (c *Client) approvalBlocks(m notify.Request, st notify.State) ([]slack.Block, string) {
	action := m.Action
	if action == "" {
		action = "an action"
	}
	subject := action
	if m.Target != "" {
		subject += " on " + m.Target
	}
	var title string
	switch st.Status {
	case notify.StatusApproved:
		title = "Approved: " + subject
	case notify.StatusDenied:
		title = "Denied: " + subject
	case notify.StatusExpired:
		title = "Expired: " + subject
	case notify.StatusCancelled:
		title = "Cancelled: " + subject
	default:
		title = "Approval needed: " + subject
	}
	blocks := []slack.Block{slack.NewHeaderBlock(plain(truncate(title, maxHeaderText)))}

	if m.Event != nil {
		what := "*What fired:* " + eventLine(m.Event)
		if s := annotationSummary(m.Event); s != "" {
			what += "\n>" + strings.ReplaceAll(s, "\n", "\n>")
		}
		blocks = append(blocks, section(what))
		if cb := contextBlock("labels", labelSummary(m.Event)); cb != nil {
			blocks = append(blocks, cb)
		}
	}

	plan := "Playbook " + code(orDash(m.Playbook)) + " wants to run " + code(action)
	if m.Target != "" {
		plan += " on " + code(m.Target)
	}
	plan += "."
	if len(m.Params) > 0 {
		plan += "\n```" + escapeKeepEntities(truncate(strings.ReplaceAll(paramLines(m.Params), "```", "'''"), maxParamsText)) + "```"
	}
	blocks = append(blocks, section(plan))

	if len(m.Guards) > 0 {
		lines := []string{"*Guards*"}
		for _, g := range m.Guards {
			mark := ":white_check_mark:"
			if !g.OK {
				mark = ":x:"
			}
			line := mark + " " + escape(g.Guard) + ": " + escape(orDash(g.Verdict))
			if g.Detail != "" {
				line += " (" + escape(g.Detail) + ")"
			}
			lines = append(lines, line)
		}
		blocks = append(blocks, section(strings.Join(lines, "\n")))
	}

	var meta []string
	if !m.ExpiresAt.IsZero() {
		meta = append(meta, "Expires "+slackDate(m.ExpiresAt)+" (denied if undecided)")
	}
	if m.Required > 1 {
		meta = append(meta, fmt.Sprintf("Needs %d distinct approvers", m.Required))
	}
	if m.RequestedBy != "" {
		meta = append(meta, "Requested by "+who([]string{m.RequestedBy}))
	}
	meta = append(meta, "Approval "+code(m.ID)+" · plan "+code(truncate(m.PlanHash, 12)))
	meta = append(meta, c.eventLinks(m.Event)...)
	if cb := contextBlock("meta", meta); cb != nil {
		blocks = append(blocks, cb)
	}

	if line := statusLine(m, st); line != "" {
		blocks = append(blocks, slack.NewDividerBlock(), section(line))
	}

	if st.Status == notify.StatusPending || st.Status == "" {
		value := DecisionValue(m.ID, m.PlanHash)
		approve := slack.NewButtonBlockElement(ActionApprove, value, plain("Approve")).
			WithStyle(slack.StylePrimary).
			WithConfirm(slack.NewConfirmationBlockObject(
				plain(truncate("Run "+action+"?", maxConfirmTitle)),
				mrkdwn(truncate("This runs "+code(action)+targetSuffix(m.Target)+" once the guards pass again.", maxConfirmText)),
				plain("Approve"), plain("Cancel")))
		deny := slack.NewButtonBlockElement(ActionDeny, value, plain("Deny")).WithStyle(slack.StyleDanger)
		blocks = append(blocks, slack.NewActionBlock(ApprovalBlock, approve, deny))
	}
	return blocks, truncate(title, maxFallback)
}

func targetSuffix(target string) string {
	if target == "" {
		return ""
	}
	return " on " + code(target)
}

// statusLine renders the decision and outcome, or "" for a fresh request.
func statusLine(m notify.Request, st notify.State) string {
	at := ""
	if !st.At.IsZero() {
		at = " " + slackDate(st.At)
	}
	reason := ""
	if st.Reason != "" {
		reason = ": " + escape(st.Reason)
	}
	var line string
	switch st.Status {
	case notify.StatusApproved:
		line = ":white_check_mark: Approved by " + who(st.By) + at + "."
	case notify.StatusDenied:
		line = ":no_entry: Denied by " + who(st.By) + at + reason + "."
	case notify.StatusExpired:
		line = ":hourglass: Expired" + at + " without a decision; denied by default."
	case notify.StatusCancelled:
		line = ":heavy_multiplication_x: Cancelled" + at + reason + "."
	default:
		if len(st.By) > 0 && m.Required > 1 {
			line = fmt.Sprintf(":hourglass_flowing_sand: Approved by %s (%d of %d).", who(st.By), len(st.By), m.Required)
		}
	}
	if st.Outcome != "" {
		mark := ":gear: Outcome: "
		if st.Failed {
			mark = ":warning: Failed: "
		}
		line += "\n" + mark + escape(st.Outcome)
	}
	return strings.TrimLeft(line, "\n")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
