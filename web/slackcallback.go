package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/engine/approval"
)

// Slack's request signing headers.
const (
	SlackHeaderSignature = "X-Slack-Signature"
	SlackHeaderTimestamp = "X-Slack-Request-Timestamp"
)

// SlackMaxRequestAge is how far a callback's timestamp may be from now,
// either way, before VerifySlackRequest refuses it as a possible replay.
const SlackMaxRequestAge = 5 * time.Minute

// VerifySlackRequest checks that body, with header, was signed by Slack with
// secret (the app's signing secret), using Slack's v0 scheme:
// X-Slack-Signature is "v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp +
// ":" + body)) and X-Slack-Request-Timestamp (Unix seconds) is within
// SlackMaxRequestAge of now. Call it on the raw body, before parsing. It
// returns ErrSlackNoSecret, ErrSlackMissingHeaders, ErrSlackStaleRequest or
// ErrSlackInvalidSignature. It does not detect a replay inside the window;
// the approval gate makes a second click on a decided approval change
// nothing.
func VerifySlackRequest(header http.Header, body []byte, secret string, now time.Time) error {
	if secret == "" {
		return ErrSlackNoSecret
	}
	sig := header.Get(SlackHeaderSignature)
	tsText := header.Get(SlackHeaderTimestamp)
	if sig == "" || tsText == "" {
		return ErrSlackMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || ts <= 0 {
		return fmt.Errorf("%w: timestamp is not unix seconds", ErrSlackInvalidSignature)
	}
	if age := now.Sub(time.Unix(ts, 0)); age > SlackMaxRequestAge || age < -SlackMaxRequestAge {
		return fmt.Errorf("%w: timestamp is %s away from now", ErrSlackStaleRequest, age.Abs().Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return fmt.Errorf("%w: unsupported signature version", ErrSlackInvalidSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed signature", ErrSlackInvalidSignature)
	}
	if !hmac.Equal(got, slackSign(secret, tsText, body)) {
		return ErrSlackInvalidSignature
	}
	return nil
}

// slackSign computes Slack's v0 HMAC of body at the timestamp text ts.
func slackSign(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return m.Sum(nil)
}

// SlackSignForTest returns the headers Slack would send with body at ts,
// signed with secret, including the form Content-Type of interaction
// callbacks. It exists for tests in other packages that post signed
// callbacks.
func SlackSignForTest(secret string, ts time.Time, body []byte) http.Header {
	tsText := strconv.FormatInt(ts.Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set(SlackHeaderTimestamp, tsText)
	h.Set(SlackHeaderSignature, "v0="+hex.EncodeToString(slackSign(secret, tsText, body)))
	return h
}

// SlackClick is a click on one of the buttons Firebreak's Slack messages
// carry: an approval's Approve or Deny (Decision and ApprovalID set) or a
// breaker-opened message's Reset (BreakerID set). Every field comes from the
// (signed) payload; verify the request with VerifySlackRequest before
// trusting any of it.
type SlackClick struct {
	// Type is the callback type; ParseSlackClick only accepts block_actions.
	Type string
	// UserID, UserName and TeamID name who clicked.
	UserID   string
	UserName string
	TeamID   string
	// ActionID, BlockID and Value are the clicked button's.
	ActionID string
	BlockID  string
	Value    string
	// Decision is derived from ActionID (slack.ActionApprove and
	// slack.ActionDeny, or the bare "approve"/"deny"); empty for any other
	// button.
	Decision approval.Decision
	// ApprovalID and PlanHash are Value split by slack.ParseDecisionValue.
	ApprovalID string
	PlanHash   string
	// BreakerID is Value when the click was on a breaker-opened message's
	// Reset button (slack.ActionBreakerReset); empty otherwise.
	BreakerID string
	// ChannelID and MessageTS locate the message clicked on, for chat.update.
	ChannelID string
	MessageTS string
	// ResponseURL answers the user; TriggerID opens modals.
	ResponseURL string
	TriggerID   string
	// ActionTS is Slack's timestamp of the click.
	ActionTS string
	// APIAppID is the Slack app the click was for.
	APIAppID string
}

// ApprovalClick is the approval gate's view of a verified button click.
func (in SlackClick) ApprovalClick() approval.Click {
	return approval.Click{
		ApprovalID: in.ApprovalID, PlanHash: in.PlanHash, Decision: in.Decision,
		UserID: in.UserID, UserName: in.UserName, Channel: in.ChannelID,
		Via: approval.ViaSlack,
	}
}

// slackPayload mirrors the fields of Slack's block_actions payload that
// SlackClick keeps.
type slackPayload struct {
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

// ParseSlackClick decodes a Slack interaction callback body (form-encoded,
// the JSON in its payload field) into a SlackClick. It accepts only
// block_actions callbacks with at least one action, a user, a channel and a
// message timestamp; anything else is an error wrapping
// ErrSlackMalformedCallback. With several actions, the first is used.
func ParseSlackClick(body []byte) (SlackClick, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return SlackClick{}, fmt.Errorf("%w: body is not form-encoded: %w", ErrSlackMalformedCallback, err)
	}
	payload := form.Get("payload")
	if payload == "" {
		return SlackClick{}, fmt.Errorf("%w: no payload field", ErrSlackMalformedCallback)
	}
	var p slackPayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return SlackClick{}, fmt.Errorf("%w: payload is not valid json: %w", ErrSlackMalformedCallback, err)
	}
	if p.Type != "block_actions" {
		return SlackClick{}, fmt.Errorf("%w: type %q, want block_actions", ErrSlackMalformedCallback, p.Type)
	}
	if len(p.Actions) == 0 {
		return SlackClick{}, fmt.Errorf("%w: no actions", ErrSlackMalformedCallback)
	}
	a := p.Actions[0]
	in := SlackClick{
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
		return SlackClick{}, fmt.Errorf("%w: no user id", ErrSlackMalformedCallback)
	case in.ActionID == "":
		return SlackClick{}, fmt.Errorf("%w: no action_id", ErrSlackMalformedCallback)
	case in.ChannelID == "":
		return SlackClick{}, fmt.Errorf("%w: no channel id", ErrSlackMalformedCallback)
	case in.MessageTS == "":
		return SlackClick{}, fmt.Errorf("%w: no message ts", ErrSlackMalformedCallback)
	}
	switch in.ActionID {
	case slack.ActionApprove, "approve":
		in.Decision = approval.Approve
	case slack.ActionDeny, "deny":
		in.Decision = approval.Deny
	}
	if in.ActionID == slack.ActionBreakerReset {
		in.BreakerID = in.Value
		return in, nil
	}
	in.ApprovalID, in.PlanHash = slack.ParseDecisionValue(in.Value)
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
