package slack

import (
	"context"
	"fmt"
	"time"

	"github.com/slack-go/slack"
)

// Action id of the breaker-opened message's Reset button, and the block id
// of its row. The button's value is the breaker id.
const (
	ActionBreakerReset = "firebreak_breaker_reset"
	BreakerBlock       = "firebreak_breaker"
)

// BreakerMessage is what a breaker-opened message shows.
type BreakerMessage struct {
	// BreakerID is the breaker's id, carried by the Reset button.
	BreakerID string
	// Channel to post to; empty means Config.DefaultChannel.
	Channel string
	// Playbook and Target are the breaker's; Reason says why it opened.
	Playbook string
	Target   string
	Reason   string
	// RetryAt is when one trial run is allowed again.
	RetryAt time.Time
}

// BreakerReset is what UpdateBreaker shows once the breaker was reset.
type BreakerReset struct {
	// By is who reset it: a Slack user id is shown as a mention.
	By string
	At time.Time
}

func (m BreakerMessage) check() error {
	switch {
	case m.BreakerID == "":
		return fmt.Errorf("%w: empty breaker id", ErrInvalidBreaker)
	case len(m.BreakerID) > maxButtonValue:
		return fmt.Errorf("%w: breaker id longer than %d bytes", ErrInvalidBreaker, maxButtonValue)
	}
	return nil
}

// PostBreakerOpened posts a breaker-opened message with a Reset button to
// m.Channel (or the default channel) and returns where it went.
func (c *Client) PostBreakerOpened(ctx context.Context, m BreakerMessage) (channel, ts string, err error) {
	if err := m.check(); err != nil {
		return "", "", err
	}
	blocks, fallback := breakerBlocks(m, nil)
	return c.postMessage(ctx, m.Channel, blocks, fallback)
}

// UpdateBreakerReset rewrites the breaker-opened message at channel and ts
// (chat.update) to say who reset the breaker; the button goes away.
func (c *Client) UpdateBreakerReset(ctx context.Context, channel, ts string, m BreakerMessage, r BreakerReset) error {
	if err := m.check(); err != nil {
		return err
	}
	blocks, fallback := breakerBlocks(m, &r)
	return c.updateMessage(ctx, ErrInvalidBreaker, channel, ts, blocks, fallback)
}

// breakerBlocks renders the message; with reset it shows who reset the
// breaker instead of the button. Playbook, target and reason may come from
// event data: they are escaped, so they cannot mention anyone.
func breakerBlocks(m BreakerMessage, reset *BreakerReset) ([]slack.Block, string) {
	title := "Circuit breaker opened: " + m.Playbook
	if reset != nil {
		title = "Circuit breaker reset: " + m.Playbook
	}
	what := "Playbook " + code(m.Playbook) + targetSuffix(m.Target) + " stopped"
	if m.Reason != "" {
		what += ": " + escape(m.Reason)
	}
	what += "."
	on := ""
	if m.Target != "" {
		on = " on " + m.Target
	}
	fallback := "Firebreak circuit breaker " + m.BreakerID + " opened: playbook " + m.Playbook + on
	blocks := []slack.Block{slack.NewHeaderBlock(plain(truncate(title, maxHeaderText)))}
	if reset == nil {
		if !m.RetryAt.IsZero() {
			what += " Nothing more runs there until " + slackDate(m.RetryAt) + ", when one trial run is allowed."
		}
		blocks = append(blocks, section(what),
			slack.NewActionBlock(BreakerBlock,
				slack.NewButtonBlockElement(ActionBreakerReset, m.BreakerID, plain("Reset")).WithStyle(slack.StyleDanger)))
	} else {
		line := "Reset by " + who([]string{reset.By})
		if !reset.At.IsZero() {
			line += " " + slackDate(reset.At)
		}
		blocks = append(blocks, section(what), section(line+"; runs resume."))
		fallback = "Firebreak circuit breaker " + m.BreakerID + " reset by " + reset.By
	}
	blocks = append(blocks, contextBlock("firebreak_breaker_id", []string{"breaker " + code(m.BreakerID)}))
	return blocks, escape(truncate(fallback, 300))
}
