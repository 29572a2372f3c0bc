package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/actions/slack/slackfake"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine/guard"
)

// TestBreakerNotificationCannotMention: a breaker's target comes from event
// data (an alert naming a deployment "<!channel>" fails and opens the
// breaker), so the notification posted through slack.notify must show it
// as typed.
func TestBreakerNotificationCannotMention(t *testing.T) {
	fake := slackfake.New(t)
	reg := actions.NewRegistry()
	if err := reg.Register(slack.New(slack.Config{Token: slackfake.Token, APIURL: fake.APIURL()}).Notify()); err != nil {
		t.Fatal(err)
	}
	n, err := config.NewNotifier(reg, config.GuardNotifyConfig{Action: slack.NotifyID, With: map[string]any{"channel": "#sre"}})
	if err != nil {
		t.Fatal(err)
	}
	note := guard.Notification{Kind: string(guard.KindBreakerOpened), BreakerID: "b1", Playbook: "restart", Target: "Deployment/shop/<!channel>", Reason: "3 runs failed", RetryAt: time.Now()}
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	text := fake.WaitCalls(t, "chat.postMessage", 1, 5*time.Second)[0].Text()
	if strings.Contains(text, "<!channel>") || !strings.Contains(text, "&lt;!channel&gt;") {
		t.Fatalf("the breaker notification mentions the channel:\n%s", text)
	}
}
