package web_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/web"
)

// slackSignedAt is the clock of the signed callbacks in these tests.
var slackSignedAt = time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)

// slackFixtureBody returns Slack's block_actions sample as Slack posts it:
// form-encoded, the JSON in the payload field. edit, when set, changes the
// decoded payload first.
func slackFixtureBody(t testing.TB, edit func(p map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/slack-block-actions.json")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		edit(p)
		if raw, err = json.Marshal(p); err != nil {
			t.Fatal(err)
		}
	}
	return []byte(url.Values{"payload": {string(raw)}}.Encode())
}

func slackFirstAction(p map[string]any) map[string]any {
	return p["actions"].([]any)[0].(map[string]any)
}

func TestParseSlackClickFixture(t *testing.T) {
	body := slackFixtureBody(t, nil)
	// The body verifies as Slack would sign it.
	if err := web.VerifySlackRequest(web.SlackSignForTest(slackSigningSecret, slackSignedAt, body), body, slackSigningSecret, slackSignedAt); err != nil {
		t.Fatalf("VerifySlackRequest: %v", err)
	}
	in, err := web.ParseSlackClick(body)
	if err != nil {
		t.Fatalf("ParseSlackClick: %v", err)
	}
	want := web.SlackClick{
		Type:        "block_actions",
		UserID:      "U04ABCD1EFG",
		UserName:    "j.doe",
		TeamID:      "T01ZYXW9VUT",
		ActionID:    "approve",
		BlockID:     "approval:run-01JPB6X4Q9",
		Value:       "run-01JPB6X4Q9",
		Decision:    approval.Approve,
		ApprovalID:  "run-01JPB6X4Q9",
		PlanHash:    "",
		ChannelID:   "C07INCIDENT",
		MessageTS:   "1741944420.001900",
		ResponseURL: "https://hooks.slack.com/actions/T01ZYXW9VUT/7123456789012/Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2",
		TriggerID:   "7123456789012.1234567890123.0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		ActionTS:    "1741944467.382911",
		APIAppID:    "A05IRBOT001",
	}
	if in != want {
		t.Errorf("ParseSlackClick =\n%+v\nwant\n%+v", in, want)
	}
}

func TestParseSlackClickOurButtons(t *testing.T) {
	value := slack.DecisionValue("appr-01JPB6X4Q9", "9f86d081884c7d65")
	for _, tt := range []struct {
		actionID string
		want     approval.Decision
	}{
		{slack.ActionApprove, approval.Approve},
		{slack.ActionDeny, approval.Deny},
		{"deny", approval.Deny},
		{"something_else", ""},
	} {
		body := slackFixtureBody(t, func(p map[string]any) {
			a := slackFirstAction(p)
			a["action_id"] = tt.actionID
			a["value"] = value
			a["block_id"] = slack.ApprovalBlock
		})
		in, err := web.ParseSlackClick(body)
		if err != nil {
			t.Fatalf("%s: %v", tt.actionID, err)
		}
		if in.Decision != tt.want || in.ApprovalID != "appr-01JPB6X4Q9" || in.PlanHash != "9f86d081884c7d65" || in.Value != value {
			t.Errorf("%s: got %+v", tt.actionID, in)
		}
	}
}

func TestParseSlackClickFallbacks(t *testing.T) {
	// Without container, the channel and message ts come from channel and
	// message; without username, the user name from name.
	body := slackFixtureBody(t, func(p map[string]any) {
		delete(p, "container")
		p["user"].(map[string]any)["username"] = ""
		p["user"].(map[string]any)["name"] = "jane"
		delete(p, "team")
	})
	in, err := web.ParseSlackClick(body)
	if err != nil {
		t.Fatal(err)
	}
	if in.ChannelID != "C07INCIDENT" || in.MessageTS != "1741944420.001900" || in.UserName != "jane" || in.TeamID != "T01ZYXW9VUT" {
		t.Errorf("got %+v", in)
	}
}

func TestParseSlackClickErrors(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"empty", nil, "no payload field"},
		{"bad form encoding", []byte("payload=%zz"), "body is not form-encoded"},
		{"no payload", []byte("foo=bar"), "no payload field"},
		{"empty payload", []byte("payload="), "no payload field"},
		{"json body", []byte(`{"type":"block_actions"}`), "no payload field"},
		{"payload not json", []byte("payload=" + url.QueryEscape("{nope")), "payload is not valid json"},
		{"payload is a list", []byte("payload=" + url.QueryEscape("[]")), "payload is not valid json"},
		{"view submission", slackFixtureBody(t, func(p map[string]any) { p["type"] = "view_submission" }), `type "view_submission", want block_actions`},
		{"no actions", slackFixtureBody(t, func(p map[string]any) { p["actions"] = []any{} }), "no actions"},
		{"no user", slackFixtureBody(t, func(p map[string]any) { delete(p, "user") }), "no user id"},
		{"no action id", slackFixtureBody(t, func(p map[string]any) { delete(slackFirstAction(p), "action_id") }), "no action_id"},
		{"no channel", slackFixtureBody(t, func(p map[string]any) { delete(p, "container"); delete(p, "channel") }), "no channel id"},
		{"no message ts", slackFixtureBody(t, func(p map[string]any) { delete(p, "container"); delete(p, "message") }), "no message ts"},
		{"user id of the wrong type", slackFixtureBody(t, func(p map[string]any) { p["user"].(map[string]any)["id"] = 42 }), "payload is not valid json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := web.ParseSlackClick(tt.body)
			if !errors.Is(err, web.ErrSlackMalformedCallback) {
				t.Fatalf("err = %v, want web.ErrSlackMalformedCallback", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseSlackClickBreakerReset(t *testing.T) {
	body := slackFixtureBody(t, func(p map[string]any) {
		a := slackFirstAction(p)
		a["action_id"], a["value"], a["block_id"] = slack.ActionBreakerReset, "7bfe39e754292ce1", slack.BreakerBlock
	})
	in, err := web.ParseSlackClick(body)
	if err != nil {
		t.Fatal(err)
	}
	if in.BreakerID != "7bfe39e754292ce1" || in.Decision != "" || in.ApprovalID != "" {
		t.Errorf("got %+v, want a breaker click and no approval decision", in)
	}
	// An approval button never names a breaker.
	body = slackFixtureBody(t, func(p map[string]any) {
		a := slackFirstAction(p)
		a["action_id"], a["value"] = slack.ActionApprove, "7bfe39e754292ce1:abc"
	})
	if in, err := web.ParseSlackClick(body); err != nil || in.BreakerID != "" {
		t.Errorf("approval click = %+v, %v; want no breaker id", in, err)
	}
}

func FuzzParseSlackClick(f *testing.F) {
	f.Add(slackFixtureBody(f, nil))
	f.Add([]byte("payload="))
	f.Add([]byte("payload=%7B%7D"))
	f.Add([]byte(`payload={"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"firebreak_approve","value":"a:b"}],"container":{"channel_id":"C1","message_ts":"1.2"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := web.ParseSlackClick(body)
		if err != nil {
			if !errors.Is(err, web.ErrSlackMalformedCallback) {
				t.Fatalf("error %v does not wrap web.ErrSlackMalformedCallback", err)
			}
			if in != (web.SlackClick{}) {
				t.Fatalf("error with a non-zero interaction: %+v", in)
			}
			return
		}
		if in.Type != "block_actions" || in.UserID == "" || in.ActionID == "" || in.ChannelID == "" || in.MessageTS == "" {
			t.Fatalf("accepted an incomplete interaction: %+v", in)
		}
		if slack.DecisionValue(in.ApprovalID, in.PlanHash) != in.Value && strings.Contains(in.Value, ":") {
			t.Fatalf("value %q does not round-trip: %q, %q", in.Value, in.ApprovalID, in.PlanHash)
		}
	})
}
