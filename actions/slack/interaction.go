package slack

import (
	"encoding/json"
	"fmt"
	"net/url"
)

// Decision is what a button click asks for.
type Decision string

// Decisions. DecisionNone is a click on something other than an approval
// button.
const (
	DecisionNone    Decision = ""
	DecisionApprove Decision = "approve"
	DecisionDeny    Decision = "deny"
)

// Interaction is the part of a block_actions callback the approval gate
// needs. Every field comes from the (signed) payload; verify the request with
// VerifyRequest before trusting any of it.
type Interaction struct {
	// Type is the callback type; ParseInteraction only accepts block_actions.
	Type string
	// UserID, UserName and TeamID name who clicked.
	UserID   string
	UserName string
	TeamID   string
	// ActionID, BlockID and Value are the clicked button's.
	ActionID string
	BlockID  string
	Value    string
	// Decision is derived from ActionID (ActionApprove/ActionDeny, or the
	// bare "approve"/"deny").
	Decision Decision
	// ApprovalID and PlanHash are Value split by ParseDecisionValue.
	ApprovalID string
	PlanHash   string
	// BreakerID is Value when the click was on a breaker-opened message's
	// Reset button (ActionBreakerReset); empty otherwise.
	BreakerID string
	// ChannelID and MessageTS locate the message clicked on, for chat.update.
	ChannelID string
	MessageTS string
	// ResponseURL answers the user (RespondEphemeral); TriggerID opens modals.
	ResponseURL string
	TriggerID   string
	// ActionTS is Slack's timestamp of the click.
	ActionTS string
	// APIAppID is the Slack app the click was for.
	APIAppID string
}

// interactionPayload mirrors the fields of Slack's block_actions payload
// that Interaction keeps.
type interactionPayload struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
		TeamID   string `json:"team_id"`
	} `json:"user"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	APIAppID  string `json:"api_app_id"`
	Container struct {
		MessageTS string `json:"message_ts"`
		ChannelID string `json:"channel_id"`
	} `json:"container"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Message struct {
		TS string `json:"ts"`
	} `json:"message"`
	ResponseURL string `json:"response_url"`
	TriggerID   string `json:"trigger_id"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		BlockID  string `json:"block_id"`
		Value    string `json:"value"`
		ActionTS string `json:"action_ts"`
	} `json:"actions"`
}

// ParseInteraction decodes a Slack interaction callback body (form-encoded,
// the JSON in its payload field) into an Interaction. It accepts only
// block_actions callbacks with at least one action, a user, a channel and a
// message timestamp; anything else is an error wrapping
// ErrMalformedInteraction. With several actions, the first is used.
func ParseInteraction(body []byte) (Interaction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Interaction{}, fmt.Errorf("%w: body is not form-encoded: %w", ErrMalformedInteraction, err)
	}
	payload := form.Get("payload")
	if payload == "" {
		return Interaction{}, fmt.Errorf("%w: no payload field", ErrMalformedInteraction)
	}
	var p interactionPayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return Interaction{}, fmt.Errorf("%w: payload is not valid json: %w", ErrMalformedInteraction, err)
	}
	if p.Type != "block_actions" {
		return Interaction{}, fmt.Errorf("%w: type %q, want block_actions", ErrMalformedInteraction, p.Type)
	}
	if len(p.Actions) == 0 {
		return Interaction{}, fmt.Errorf("%w: no actions", ErrMalformedInteraction)
	}
	a := p.Actions[0]
	in := Interaction{
		Type:        p.Type,
		UserID:      p.User.ID,
		UserName:    firstNonEmpty(p.User.Username, p.User.Name),
		TeamID:      firstNonEmpty(p.Team.ID, p.User.TeamID),
		ActionID:    a.ActionID,
		BlockID:     a.BlockID,
		Value:       a.Value,
		ChannelID:   firstNonEmpty(p.Container.ChannelID, p.Channel.ID),
		MessageTS:   firstNonEmpty(p.Container.MessageTS, p.Message.TS),
		ResponseURL: p.ResponseURL,
		TriggerID:   p.TriggerID,
		ActionTS:    a.ActionTS,
		APIAppID:    p.APIAppID,
	}
	switch {
	case in.UserID == "":
		return Interaction{}, fmt.Errorf("%w: no user id", ErrMalformedInteraction)
	case in.ActionID == "":
		return Interaction{}, fmt.Errorf("%w: no action_id", ErrMalformedInteraction)
	case in.ChannelID == "":
		return Interaction{}, fmt.Errorf("%w: no channel id", ErrMalformedInteraction)
	case in.MessageTS == "":
		return Interaction{}, fmt.Errorf("%w: no message ts", ErrMalformedInteraction)
	}
	switch in.ActionID {
	case ActionApprove, "approve":
		in.Decision = DecisionApprove
	case ActionDeny, "deny":
		in.Decision = DecisionDeny
	}
	if in.ActionID == ActionBreakerReset {
		in.BreakerID = in.Value
		return in, nil
	}
	in.ApprovalID, in.PlanHash = ParseDecisionValue(in.Value)
	return in, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
