package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/slack/slackfake"
	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
)

const mentionPlaybook = `
name: page
match: event.source == "alertmanager" && event.status == "firing"
steps:
  - action: slack.notify
    with:
      channel: "#sre"
      text: "R&amp;D paging <!subteam^S0ONCALL> and <@U0ALICE> & co: {{ event.annotations.summary }} ({{ event.labels.pod }})"
`

// TestEventDataCannotMentionInSlack sends an alert whose annotation and
// label hold every Slack mention form through the whole server to the
// Slack fake: the playbook author's mentions stay live, the event's are
// shown as typed, and nothing is escaped twice.
func TestEventDataCannotMentionInSlack(t *testing.T) {
	fake := slackfake.New(t)
	cfg := apptest.Config(t, mentionPlaybook)
	cfg.Actions.Slack.Token = slackfake.Token
	cfg.Actions.Slack.APIURL = fake.APIURL()
	a := apptest.Start(t, cfg, app.Options{})
	body := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels: map[string]string{"alertname": "Injected", "pod": "<@U0MALLORY>"},
		Annotations: map[string]string{
			"summary": "<!channel> <!here> <@U0BOB> <!subteam^S0ALL> <https://evil.example|approve> Tom & Jerry &lt;!channel&gt;",
		},
		StartsAt: time.Now(), Fingerprint: "mention1",
	})
	if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", body); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, b)
	}
	call := fake.WaitCalls(t, "chat.postMessage", 1, 20*time.Second)[0]
	text := call.Text()
	for _, want := range []string{
		// The author's own mentions, live; the author's & escaped once and
		// the author's &amp; not again.
		"R&amp;D paging <!subteam^S0ONCALL> and <@U0ALICE> &amp; co: ",
		// The event's text, shown as typed.
		"&lt;!channel&gt; &lt;!here&gt; &lt;@U0BOB&gt; &lt;!subteam^S0ALL&gt; &lt;https://evil.example|approve&gt; Tom &amp; Jerry &amp;lt;!channel&amp;gt; (&lt;@U0MALLORY&gt;)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("message lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"<!channel>", "<!here>", "<@U0BOB>", "<!subteam^S0ALL>", "<@U0MALLORY>", "<https://evil", "&amp;amp;", "&amp;lt;@"} {
		if strings.Contains(text, bad) {
			t.Errorf("message contains %q:\n%s", bad, text)
		}
	}
}
