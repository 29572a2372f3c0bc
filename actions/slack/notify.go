package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/slack-go/slack"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/event"
)

// NotifyID is the id of the slack.notify action.
const NotifyID = "slack.notify"

// Notify is the slack.notify action: a Block Kit message with the event's
// summary, threaded per incident. Create it with Client.Notify.
type Notify struct {
	c *Client
}

// Notify returns the slack.notify action backed by c.
func (c *Client) Notify() *Notify { return &Notify{c: c} }

// Spec implements actions.Action.
func (n *Notify) Spec() actions.Spec { return notifySpec() }

// notifySpec is built once: Spec is called for every planned step.
var notifySpec = sync.OnceValue(func() actions.Spec {
	return actions.Spec{
		ID: NotifyID,
		Description: "Post a Slack message (Block Kit) with the event's name, severity, status, key labels, " +
			"the playbook and links; follow-ups for the same incident reply in the first message's thread.",
		Params: []actions.Param{
			{
				Name: "channel", Type: actions.String, Required: true,
				Doc: "Channel to post to: an id (C0123ABCD) or a name (#sre). The bot must be a member.",
			},
			{
				Name: "text", Type: actions.String, Required: true, Escape: EscapeValue,
				Doc: "Message text in Slack mrkdwn, shown above the event summary and used for notifications. " +
					"Mentions of users, channels and user groups, @here and @channel written in the playbook are kept; " +
					"links and any other Slack markup are shown as typed. Every {{ }} value is escaped (& < >), " +
					"so event data can neither mention nor link.",
			},
			{
				Name: "thread", Type: actions.Bool, Default: true,
				Doc: "Reply in the incident's thread: messages about the same alert (its fingerprint, " +
					"or its name and labels) in the same channel go under the first one.",
			},
		},
		Example: map[string]any{
			"channel": "#sre",
			"text":    "Restarted {{ event.labels.deployment }} ({{ event.name }})",
		},
		Destructive: false,
		Reversible:  false,
		Permissions: []string{"slack scope chat:write"},
	}
})

// Validate implements actions.Action.
func (n *Notify) Validate(params map[string]any, final bool) error {
	errs := []error{actions.CheckParams(n.Spec(), params, final)}
	if ch, ok := params["channel"].(string); ok {
		switch {
		case strings.TrimSpace(ch) == "":
			errs = append(errs, &actions.ParamError{Param: "channel", Msg: "must not be empty"})
		case strings.ContainsAny(ch, " \t\n,"):
			errs = append(errs, &actions.ParamError{Param: "channel", Msg: fmt.Sprintf("must be one channel id or #name, got %q", ch)})
		}
	}
	if t, ok := params["text"].(string); ok && final && strings.TrimSpace(t) == "" {
		errs = append(errs, &actions.ParamError{Param: "text", Msg: "must not be empty"})
	}
	return errors.Join(errs...)
}

// Target implements actions.Action.
func (n *Notify) Target(params map[string]any) actions.Target {
	return actions.Target{Kind: "slack", Name: actions.StringParam(params, "channel", "")}
}

// Run implements actions.Action. With req.DryRun it renders the message,
// looks up the thread it would reply in, and posts nothing.
func (n *Notify) Run(ctx context.Context, req actions.Request) (actions.Result, error) {
	c := n.c
	channel := strings.TrimSpace(actions.StringParam(req.Params, "channel", ""))
	text := actions.StringParam(req.Params, "text", "")
	thread := true
	if b, ok := req.Params["thread"].(bool); ok {
		thread = b
	}
	if channel == "" {
		return actions.Result{}, actions.Permanent(&actions.ParamError{Param: "channel", Msg: "is required"})
	}
	if !req.DryRun {
		if err := c.Available(); err != nil {
			return actions.Result{}, actions.Permanent(err)
		}
	}

	blocks := c.notifyBlocks(text, req.Event, req.Playbook)
	fallback := truncate(escapeText(text), maxFallback)

	key := ""
	if thread {
		key = ThreadKey(channel, req.Event)
	}
	threadTS := ""
	if key != "" {
		unlock := c.locks.Lock(key)
		defer unlock()
		ts, ok, err := c.threads.GetThread(ctx, key)
		switch {
		case err != nil:
			c.log.WarnContext(ctx, "slack thread lookup failed; posting a new message", "thread_key", key, "error", err)
		case ok:
			threadTS = ts
		}
	}

	if req.DryRun {
		raw, err := json.Marshal(blocks)
		if err != nil {
			return actions.Result{}, fmt.Errorf("render slack message: %w", err)
		}
		summary := "would post to " + channel
		if threadTS != "" {
			summary = "would reply in thread " + threadTS + " on " + channel
		}
		return actions.Result{
			Summary: summary,
			Output: map[string]any{
				"channel":   channel,
				"thread_ts": threadTS,
				"text":      fallback,
				"blocks":    json.RawMessage(raw),
			},
		}, nil
	}

	opts := []slack.MsgOption{
		slack.MsgOptionText(fallback, false),
		slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
	}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	postedChannel, ts, err := c.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		retryAfter, err := c.callError("chat.postMessage", err)
		return actions.Result{RetryAfter: retryAfter}, err
	}
	if key != "" && threadTS == "" {
		if err := c.threads.PutThread(ctx, key, ts); err != nil {
			c.log.WarnContext(ctx, "slack thread not recorded; follow-ups will start a new thread", "thread_key", key, "error", err)
		}
	}
	summary := "posted to " + channel
	if threadTS != "" {
		summary = "replied in thread " + threadTS + " on " + channel
	}
	return actions.Result{
		Summary: summary,
		Output: map[string]any{
			"channel":   postedChannel,
			"ts":        ts,
			"thread_ts": threadTS,
		},
	}, nil
}

// notifyBlocks renders slack.notify's message: the text, the event's
// fields, its description and key labels, then the playbook and links.
func (c *Client) notifyBlocks(text string, ev *event.Event, playbook string) []slack.Block {
	blocks := []slack.Block{section(escapeText(text))}
	if ev != nil {
		blocks = append(blocks, slack.NewSectionBlock(nil, eventFields(ev), nil))
		if s := annotationSummary(ev); s != "" {
			blocks = append(blocks, section(">"+strings.ReplaceAll(s, "\n", "\n>")))
		}
		if cb := contextBlock("labels", labelSummary(ev)); cb != nil {
			blocks = append(blocks, cb)
		}
	}
	var footer []string
	if playbook != "" {
		footer = append(footer, "Playbook "+code(playbook))
	}
	footer = append(footer, c.eventLinks(ev)...)
	if cb := contextBlock("firebreak", footer); cb != nil {
		blocks = append(blocks, cb)
	}
	return blocks
}
