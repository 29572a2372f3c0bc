package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/actions/slack/slackfake"
	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/internal/fakeclock"
	"github.com/firebreak/firebreak/web"
)

// breakerSlackEnv is a server whose breaker messages go to a fake Slack
// through slack.notify, with the approvals allow-list and signing secret.
type breakerSlackEnv struct {
	*apprEnv
	clk       *fakeclock.Clock
	processed int
	msg       slackfake.Call
	breaker   string
}

const breakerMsgTS = "1741944420.000777"

// newBreakerSlackEnv starts the server and flaps a workload until its
// breaker opens and the message with the Reset button is posted.
func newBreakerSlackEnv(t *testing.T) *breakerSlackEnv {
	t.Helper()
	e := &breakerSlackEnv{apprEnv: &apprEnv{t: t}, clk: fakeclock.New(time.Now().UTC().Truncate(time.Second))}
	e.slack = slackfake.New(t)
	e.slack.Groups["S0ONCALL"] = []string{apprGroupUser}
	e.sink = apptest.NewSink(t)
	e.cfg = apptest.Config(t, fmt.Sprintf(flapPlaybook, e.sink.URL))
	apptest.WithOperator(&e.cfg)
	e.cfg.Actions.Slack.Token = slackfake.Token
	e.cfg.Actions.Slack.APIURL = e.slack.APIURL()
	e.cfg.Actions.Slack.DefaultChannel = "#sre"
	e.cfg.Guards.Notify = &app.GuardNotifyConfig{Action: "slack.notify", With: map[string]any{"channel": "#sre-breakers"}}
	e.cfg.Approvals = app.ApprovalsConfig{SigningSecret: apprSecret, AllowedUsers: []string{apprUser}, AllowedGroups: []string{"S0ONCALL"}}
	e.a = apptest.Start(t, e.cfg, app.Options{Now: e.clk.Now})
	for range 4 {
		fired := e.clk.Now()
		e.post("firing", fired)
		e.clk.Advance(time.Minute)
		e.post("resolved", fired)
		e.clk.Advance(4 * time.Minute)
	}
	e.clock = fakeclock.New(e.clk.Now()) // signs clicks at the server's time
	if st := e.state(); st != guard.StateOpen {
		t.Fatalf("breaker state after four flaps = %q, want open", st)
	}
	e.msg = e.slack.WaitCalls(t, "chat.postMessage", 1, 10*time.Second)[0]
	return e
}

func (e *breakerSlackEnv) post(status string, startsAt time.Time) {
	e.t.Helper()
	if code, body := apptest.Post(e.t, e.a.URL()+"/hooks/alertmanager", crashLooping(7, "cart", startsAt, status)); code != http.StatusAccepted {
		e.t.Fatalf("POST = %d %s", code, body)
	}
	e.processed++
	waitProcessed(e.t, e.a, e.processed, 10*time.Second)
}

// state returns the only breaker's state, remembering its id.
func (e *breakerSlackEnv) state() string {
	e.t.Helper()
	bs, err := e.a.Guard().Breakers(context.Background())
	if err != nil || len(bs) != 1 {
		e.t.Fatalf("breakers = %+v, %v; want one", bs, err)
	}
	e.breaker = bs[0].ID
	return bs[0].State
}

// resetClick is Slack's block_actions callback for user pressing value's
// Reset button, in the shape of the shared fixture.
func (e *breakerSlackEnv) resetClick(user, value string) []byte {
	e.t.Helper()
	raw, err := os.ReadFile("testdata/slack-block-actions.json")
	if err != nil {
		e.t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		e.t.Fatal(err)
	}
	p["user"].(map[string]any)["id"] = user
	act := p["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["value"], act["block_id"] = slack.ActionBreakerReset, value, slack.BreakerBlock
	c := p["container"].(map[string]any)
	c["channel_id"], c["message_ts"] = "CSRE-BREAKERS", breakerMsgTS
	b, err := json.Marshal(p)
	if err != nil {
		e.t.Fatal(err)
	}
	return []byte("payload=" + url.QueryEscape(string(b)))
}

func (e *breakerSlackEnv) resetRecords() []audit.Record {
	return auditRecords(e.t, e.a, audit.Query{Kind: guard.KindBreakerReset})
}

func TestBreakerMessageInSlackHasAResetButtonThatResets(t *testing.T) {
	e := newBreakerSlackEnv(t)
	if ch := e.msg.Form.Get("channel"); ch != "#sre-breakers" {
		t.Errorf("breaker message posted to %q, want guards.notify.with.channel", ch)
	}
	if v := e.msg.ButtonValues()[slack.ActionBreakerReset]; v != e.breaker {
		t.Fatalf("Reset button value = %q, want the breaker id %q (buttons %v)", v, e.breaker, e.msg.ButtonValues())
	}
	if text := e.msg.Text(); !strings.Contains(text, "restart-flapping") || !strings.Contains(text, e.breaker) {
		t.Errorf("breaker message = %q", text)
	}

	e.click(e.resetClick(apprUser, e.breaker))
	apptest.WaitFor(t, 10*time.Second, "the breaker closed", func() bool { return e.state() == guard.StateClosed })
	recs := e.resetRecords()
	if len(recs) != 1 || recs[0].Actor != "slack:"+apprUser || recs[0].Outcome != guard.StateClosed || recs[0].Data["breaker_id"] != e.breaker {
		t.Fatalf("breaker.reset records = %+v, want one closed by slack:%s", recs, apprUser)
	}
	up := e.lastUpdateWith("Reset by <@"+apprUser+">", "runs resume")
	if up.Form.Get("channel") != "CSRE-BREAKERS" || up.Form.Get("ts") != breakerMsgTS {
		t.Errorf("chat.update of channel %q ts %q, want the clicked message", up.Form.Get("channel"), up.Form.Get("ts"))
	}
	if len(up.ButtonValues()) != 0 {
		t.Errorf("the reset message still has buttons: %v", up.ButtonValues())
	}
	// The workload is acted on again, as after the API's reset.
	before := len(e.sink.Requests())
	e.post("firing", e.clk.Now())
	if got := len(e.sink.Requests()); got != before+1 {
		t.Fatalf("runs after the reset = %d, want %d", got, before+1)
	}
}

func TestBreakerResetFromSlackByAGroupMember(t *testing.T) {
	e := newBreakerSlackEnv(t)
	e.click(e.resetClick(apprGroupUser, e.breaker))
	apptest.WaitFor(t, 10*time.Second, "the breaker closed", func() bool { return e.state() == guard.StateClosed })
	if recs := e.resetRecords(); len(recs) != 1 || recs[0].Actor != "slack:"+apprGroupUser {
		t.Fatalf("breaker.reset records = %+v", recs)
	}
}

func TestBreakerResetFromSlackUnsignedOrForgedIsRefused(t *testing.T) {
	e := newBreakerSlackEnv(t)
	body := e.resetClick(apprUser, e.breaker)
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if code := e.apprEnv.post(body, h); code != http.StatusUnauthorized {
		t.Errorf("unsigned click = %d, want 401", code)
	}
	forged := web.SlackSignForTest("not-the-signing-secret-0123456789", e.clk.Now(), body)
	if code := e.apprEnv.post(body, forged); code != http.StatusUnauthorized {
		t.Errorf("click signed with another secret = %d, want 401", code)
	}
	// Signed for another body: the breaker id cannot be swapped in.
	other := web.SlackSignForTest(apprSecret, e.clk.Now(), e.resetClick(apprUser, "0000000000000000"))
	if code := e.apprEnv.post(body, other); code != http.StatusUnauthorized {
		t.Errorf("click with another body's signature = %d, want 401", code)
	}
	// Refusals are aggregated per source and address: the records count
	// all three.
	if n, failed := refusalCount(t, e.a, "slack"); n != 3 {
		t.Errorf("slack auth.failed records count %d refusals, want 3: %+v", n, failed)
	}
	if st := e.state(); st != guard.StateOpen {
		t.Fatalf("breaker after refused clicks = %q, want open", st)
	}
	if recs := e.resetRecords(); len(recs) != 0 {
		t.Fatalf("breaker.reset records after refused clicks = %+v", recs)
	}
}

func TestBreakerResetFromSlackByAUserNotAllowedIsRefused(t *testing.T) {
	e := newBreakerSlackEnv(t)
	const stranger = "U0STRANGER"
	e.click(e.resetClick(stranger, e.breaker))
	var recs []audit.Record
	apptest.WaitFor(t, 10*time.Second, "the refusal audited", func() bool {
		recs = e.resetRecords()
		return len(recs) > 0
	})
	if len(recs) != 1 || recs[0].Outcome != "refused" || recs[0].Actor != "slack:"+stranger || recs[0].Source != "slack" ||
		recs[0].Data["breaker_id"] != e.breaker || !strings.Contains(recs[0].Message, "approvals.allowed_users") {
		t.Fatalf("breaker.reset records = %+v, want one refusal of slack:%s", recs, stranger)
	}
	if st := e.state(); st != guard.StateOpen {
		t.Fatalf("breaker after a stranger's click = %q, want open", st)
	}
	eph := e.slack.WaitCalls(t, "chat.postEphemeral", 1, 10*time.Second)[0]
	if eph.Form.Get("user") != stranger || !strings.Contains(eph.Form.Get("text"), "not allowed") {
		t.Errorf("ephemeral reply = %v", eph.Form)
	}
	if ups := e.slack.Calls("chat.update"); len(ups) != 0 {
		t.Errorf("the message was updated after a refused click: %v", ups[0].Form)
	}
}
