package slack

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
)

// fixtureBody returns Slack's block_actions sample as Slack posts it:
// form-encoded, the JSON in the payload field. edit, when set, changes the
// decoded payload first.
func fixtureBody(t testing.TB, edit func(p map[string]any)) []byte {
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

func firstAction(p map[string]any) map[string]any {
	return p["actions"].([]any)[0].(map[string]any)
}

func TestParseInteractionFixture(t *testing.T) {
	body := fixtureBody(t, nil)
	// The body verifies as Slack would sign it.
	if err := VerifyRequest(SignForTest(signingSecret, fixedNow, body), body, signingSecret, fixedNow); err != nil {
		t.Fatalf("VerifyRequest: %v", err)
	}
	in, err := ParseInteraction(body)
	if err != nil {
		t.Fatalf("ParseInteraction: %v", err)
	}
	want := Interaction{
		Type:        "block_actions",
		UserID:      "U04ABCD1EFG",
		UserName:    "j.doe",
		TeamID:      "T01ZYXW9VUT",
		ActionID:    "approve",
		BlockID:     "approval:run-01JPB6X4Q9",
		Value:       "run-01JPB6X4Q9",
		Decision:    DecisionApprove,
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
		t.Errorf("ParseInteraction =\n%+v\nwant\n%+v", in, want)
	}
}

func TestParseInteractionOurButtons(t *testing.T) {
	value := DecisionValue("appr-01JPB6X4Q9", "9f86d081884c7d65")
	for _, tt := range []struct {
		actionID string
		want     Decision
	}{
		{ActionApprove, DecisionApprove},
		{ActionDeny, DecisionDeny},
		{"deny", DecisionDeny},
		{"something_else", DecisionNone},
	} {
		body := fixtureBody(t, func(p map[string]any) {
			a := firstAction(p)
			a["action_id"] = tt.actionID
			a["value"] = value
			a["block_id"] = ApprovalBlock
		})
		in, err := ParseInteraction(body)
		if err != nil {
			t.Fatalf("%s: %v", tt.actionID, err)
		}
		if in.Decision != tt.want || in.ApprovalID != "appr-01JPB6X4Q9" || in.PlanHash != "9f86d081884c7d65" || in.Value != value {
			t.Errorf("%s: got %+v", tt.actionID, in)
		}
	}
}

func TestParseInteractionFallbacks(t *testing.T) {
	// Without container, the channel and message ts come from channel and
	// message; without username, the user name from name.
	body := fixtureBody(t, func(p map[string]any) {
		delete(p, "container")
		p["user"].(map[string]any)["username"] = ""
		p["user"].(map[string]any)["name"] = "jane"
		delete(p, "team")
	})
	in, err := ParseInteraction(body)
	if err != nil {
		t.Fatal(err)
	}
	if in.ChannelID != "C07INCIDENT" || in.MessageTS != "1741944420.001900" || in.UserName != "jane" || in.TeamID != "T01ZYXW9VUT" {
		t.Errorf("got %+v", in)
	}
}

func TestParseInteractionErrors(t *testing.T) {
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
		{"view submission", fixtureBody(t, func(p map[string]any) { p["type"] = "view_submission" }), `type "view_submission", want block_actions`},
		{"no actions", fixtureBody(t, func(p map[string]any) { p["actions"] = []any{} }), "no actions"},
		{"no user", fixtureBody(t, func(p map[string]any) { delete(p, "user") }), "no user id"},
		{"no action id", fixtureBody(t, func(p map[string]any) { delete(firstAction(p), "action_id") }), "no action_id"},
		{"no channel", fixtureBody(t, func(p map[string]any) { delete(p, "container"); delete(p, "channel") }), "no channel id"},
		{"no message ts", fixtureBody(t, func(p map[string]any) { delete(p, "container"); delete(p, "message") }), "no message ts"},
		{"user id of the wrong type", fixtureBody(t, func(p map[string]any) { p["user"].(map[string]any)["id"] = 42 }), "payload is not valid json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInteraction(tt.body)
			if !errors.Is(err, ErrMalformedInteraction) {
				t.Fatalf("err = %v, want ErrMalformedInteraction", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParseInteraction(f *testing.F) {
	f.Add(fixtureBody(f, nil))
	f.Add([]byte("payload="))
	f.Add([]byte("payload=%7B%7D"))
	f.Add([]byte(`payload={"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"firebreak_approve","value":"a:b"}],"container":{"channel_id":"C1","message_ts":"1.2"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := ParseInteraction(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedInteraction) {
				t.Fatalf("error %v does not wrap ErrMalformedInteraction", err)
			}
			if in != (Interaction{}) {
				t.Fatalf("error with a non-zero interaction: %+v", in)
			}
			return
		}
		if in.Type != "block_actions" || in.UserID == "" || in.ActionID == "" || in.ChannelID == "" || in.MessageTS == "" {
			t.Fatalf("accepted an incomplete interaction: %+v", in)
		}
		if DecisionValue(in.ApprovalID, in.PlanHash) != in.Value && strings.Contains(in.Value, ":") {
			t.Fatalf("value %q does not round-trip: %q, %q", in.Value, in.ApprovalID, in.PlanHash)
		}
	})
}
