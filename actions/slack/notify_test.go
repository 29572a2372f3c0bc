package slack

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/event"
)

func crashLooping(fp, status string) *event.Event {
	return &event.Event{
		ID:          "am:" + fp + ":2026-11-29T18:00:00Z:" + status,
		Source:      "alertmanager",
		Status:      status,
		Name:        "KubePodCrashLooping",
		Severity:    event.SeverityCritical,
		Fingerprint: fp,
		Labels: map[string]string{
			"alertname": "KubePodCrashLooping", "severity": "critical",
			"namespace": "shop", "deployment": "cart", "pod": "cart-7d9f-abcde", "team": "payments",
		},
		Annotations: map[string]string{
			"summary":     "Pod shop/cart-7d9f-abcde is crash looping",
			"runbook_url": "https://runbooks.example.com/KubePodCrashLooping",
		},
		Fields: map[string]any{"generatorURL": "http://prometheus.example.com/graph?g0.expr=up&g0.tab=1"},
	}
}

func notifyReq(channel, text string, ev *event.Event) actions.Request {
	return actions.Request{
		Params:   map[string]any{"channel": channel, "text": text},
		Event:    ev,
		Playbook: "restart-crashlooping-deployment",
		Attempt:  1,
	}
}

func TestNotifyPostsBlockKitMessage(t *testing.T) {
	f := newFakeSlack(t)
	n := f.client(Config{LinkBaseURL: "https://firebreak.example.com/"}).Notify()
	ev := crashLooping("fp1", event.StatusFiring)

	res, err := n.Run(context.Background(), notifyReq("#sre", "Restarted *cart* (KubePodCrashLooping)", ev))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	posts := f.Calls("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("got %d posts, want 1", len(posts))
	}
	p := posts[0]
	if got := p.Form.Get("channel"); got != "#sre" {
		t.Errorf("channel = %q, want #sre", got)
	}
	if got := p.Form.Get("text"); got != "Restarted *cart* (KubePodCrashLooping)" {
		t.Errorf("fallback text = %q", got)
	}
	if got := p.Form.Get("thread_ts"); got != "" {
		t.Errorf("first message has thread_ts %q", got)
	}
	text := allText(blocksOf(t, p))
	for _, want := range []string{
		"Restarted *cart* (KubePodCrashLooping)",
		"*Alert*\nKubePodCrashLooping",
		"*Severity*\n:red_circle: critical",
		"*Status*\n:fire: firing",
		"*Source*\nalertmanager",
		">Pod shop/cart-7d9f-abcde is crash looping",
		"`namespace=shop`", "`deployment=cart`", "`pod=cart-7d9f-abcde`", "`team=payments`",
		"Playbook `restart-crashlooping-deployment`",
		"<http://prometheus.example.com/graph?g0.expr=up&amp;g0.tab=1|View alert>",
		"<https://runbooks.example.com/KubePodCrashLooping|Runbook>",
		"<https://firebreak.example.com/events/am:fp1:2026-11-29T18:00:00Z:firing|Firebreak>",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("message lacks %q; text:\n%s", want, text)
		}
	}
	if strings.Contains(text, "alertname=") {
		t.Errorf("alertname repeated as a label:\n%s", text)
	}
	if res.Output["ts"] != "1741944420.000001" || res.Output["channel"] != "CSRE" {
		t.Errorf("output = %v", res.Output)
	}
	if res.Summary != "posted to #sre" {
		t.Errorf("summary = %q", res.Summary)
	}
}

func TestNotifyThreadsFollowUps(t *testing.T) {
	f := newFakeSlack(t)
	threads := NewMemoryThreads(0)
	n := f.client(Config{Threads: threads}).Notify()
	ctx := context.Background()

	run := func(channel string, ev *event.Event, thread *bool) actions.Result {
		t.Helper()
		req := notifyReq(channel, "update", ev)
		if thread != nil {
			req.Params["thread"] = *thread
		}
		res, err := n.Run(ctx, req)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return res
	}
	no := false
	first := run("#sre", crashLooping("fp1", event.StatusFiring), nil)
	second := run("#sre", crashLooping("fp1", event.StatusFiring), nil)
	resolved := run("#sre", crashLooping("fp1", event.StatusResolved), nil)
	other := run("#sre", crashLooping("fp2", event.StatusFiring), nil)
	elsewhere := run("#ops", crashLooping("fp1", event.StatusFiring), nil)
	unthreaded := run("#sre", crashLooping("fp1", event.StatusFiring), &no)

	posts := f.Calls("chat.postMessage")
	if len(posts) != 6 {
		t.Fatalf("got %d posts, want 6", len(posts))
	}
	root := first.Output["ts"].(string)
	for i, want := range []string{"", root, root, "", "", ""} {
		if got := posts[i].Form.Get("thread_ts"); got != want {
			t.Errorf("post %d thread_ts = %q, want %q", i, got, want)
		}
	}
	if second.Output["thread_ts"] != root || !strings.HasPrefix(second.Summary, "replied in thread "+root) {
		t.Errorf("second = %+v", second)
	}
	if !strings.Contains(allText(blocksOf(t, posts[2])), ":white_check_mark: resolved") {
		t.Errorf("resolved follow-up does not say resolved")
	}
	_ = resolved
	if other.Output["thread_ts"] != "" || elsewhere.Output["thread_ts"] != "" || unthreaded.Output["thread_ts"] != "" {
		t.Errorf("unexpected threading: other=%v elsewhere=%v unthreaded=%v", other.Output, elsewhere.Output, unthreaded.Output)
	}
	if threads.Len() != 3 { // fp1 in #sre, fp2 in #sre, fp1 in #ops
		t.Errorf("thread store holds %d threads, want 3", threads.Len())
	}
}

func TestNotifyThreadsWithoutFingerprint(t *testing.T) {
	f := newFakeSlack(t)
	n := f.client(Config{}).Notify()
	ev := crashLooping("", event.StatusFiring)
	for range 2 {
		if _, err := n.Run(context.Background(), notifyReq("#sre", "x", ev)); err != nil {
			t.Fatal(err)
		}
	}
	posts := f.Calls("chat.postMessage")
	if len(posts) != 2 || posts[1].Form.Get("thread_ts") != "1741944420.000001" {
		t.Fatalf("follow-up without fingerprint not threaded by name and labels: %v", posts)
	}
}

func TestNotifyConcurrentFirstMessagesOpenOneThread(t *testing.T) {
	f := newFakeSlack(t)
	n := f.client(Config{}).Notify()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := n.Run(context.Background(), notifyReq("#sre", "x", crashLooping("fp1", event.StatusFiring))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	roots := 0
	for _, p := range f.Calls("chat.postMessage") {
		if p.Form.Get("thread_ts") == "" {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("%d top-level messages for one incident, want 1", roots)
	}
}

func TestNotifyDryRunPostsNothing(t *testing.T) {
	f := newFakeSlack(t)
	threads := NewMemoryThreads(0)
	ev := crashLooping("fp1", event.StatusFiring)
	if err := threads.PutThread(context.Background(), ThreadKey("#sre", ev), "1700000000.000100"); err != nil {
		t.Fatal(err)
	}
	// No token: the action is registered dry-run only, and still renders.
	n := New(Config{APIURL: f.APIURL(), Threads: threads}).Notify()
	req := notifyReq("#sre", "Restarted cart", ev)
	req.DryRun = true
	res, err := n.Run(context.Background(), req)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if got := len(f.Calls("chat.postMessage")); got != 0 {
		t.Fatalf("dry run posted %d messages", got)
	}
	if res.Summary != "would reply in thread 1700000000.000100 on #sre" {
		t.Errorf("summary = %q", res.Summary)
	}
	raw, ok := res.Output["blocks"].(json.RawMessage)
	if !ok {
		t.Fatalf("output blocks = %T", res.Output["blocks"])
	}
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatal(err)
	}
	if text := allText(blocks); !strings.Contains(text, "Restarted cart") || !strings.Contains(text, "KubePodCrashLooping") {
		t.Errorf("dry-run blocks lack the message:\n%s", text)
	}
}

func TestNotifyErrors(t *testing.T) {
	f := newFakeSlack(t)
	good := f.client(Config{})
	revoked := f.client(Config{Token: badToken})
	tests := []struct {
		name       string
		c          *Client
		channel    string
		permanent  bool
		retryAfter time.Duration
		is         error
		contains   string
	}{
		{"channel not found", good, "#missing", true, 0, nil, "slack chat.postMessage: channel_not_found: the channel does not exist or the bot cannot see it"},
		{"invalid auth", revoked, "#sre", true, 0, nil, "slack chat.postMessage: invalid_auth: check the slack bot token"},
		{"rate limited", good, "#slow", false, 7 * time.Second, ErrRateLimited, "retry after 7s"},
		{"server error", good, "#broken", false, 0, nil, "slack chat.postMessage: http status 500"},
		{"transient api error", good, "#flaky", false, 0, nil, "slack chat.postMessage: internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.c.Notify().Run(context.Background(), notifyReq(tt.channel, "x", crashLooping("fp-"+tt.name, event.StatusFiring)))
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, actions.ErrPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			if res.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", res.RetryAfter, tt.retryAfter)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
			for _, tok := range []string{testToken, badToken, "SlackFakeBotToken", "Revoked"} {
				if strings.Contains(err.Error(), tok) {
					t.Errorf("error leaks the token: %q", err)
				}
			}
		})
	}
	t.Run("api error is inspectable", func(t *testing.T) {
		_, err := good.Notify().Run(context.Background(), notifyReq("#missing", "x", nil))
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code != "channel_not_found" || ae.Method != "chat.postMessage" {
			t.Fatalf("errors.As APIError: %#v", ae)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := good.Notify().Run(ctx, notifyReq("#hang", "x", nil))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, actions.ErrPermanent) {
			t.Fatalf("err = %v, want a retryable deadline", err)
		}
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("error leaks the token: %q", err)
		}
	})
	t.Run("no token", func(t *testing.T) {
		c := New(Config{APIURL: f.APIURL()})
		if err := c.Available(); !errors.Is(err, ErrNotConfigured) {
			t.Fatalf("Available = %v", err)
		}
		_, err := c.Notify().Run(context.Background(), notifyReq("#sre", "x", nil))
		if !errors.Is(err, ErrNotConfigured) || !errors.Is(err, actions.ErrPermanent) {
			t.Fatalf("err = %v", err)
		}
	})
	if err := good.Available(); err != nil {
		t.Errorf("Available with a token = %v", err)
	}
}

func TestNotifyEscapesEventText(t *testing.T) {
	f := newFakeSlack(t)
	n := f.client(Config{}).Notify()
	ev := &event.Event{
		Source: "falco", Status: event.StatusFiring, Name: "Shell <!channel> in container",
		Severity: event.SeverityHigh,
		Labels:   map[string]string{"user": "<https://evil.example.com|click to approve>"},
		Annotations: map[string]string{
			"summary": "cmd=curl <!everyone> & friends",
		},
	}
	text := "Shell spawned, paging <!subteam^S0ONCALL> and <@U0ALICE>; details <https://evil.example.com|here> <!everyone>"
	if _, err := n.Run(context.Background(), notifyReq("#sec", text, ev)); err != nil {
		t.Fatal(err)
	}
	p := f.Calls("chat.postMessage")[0]
	all := allText(blocksOf(t, p)) + p.Form.Get("text")
	for _, want := range []string{
		"<!subteam^S0ONCALL>", "<@U0ALICE>",
		"&lt;https://evil.example.com|here&gt;", "&lt;!everyone&gt;",
		"Shell &lt;!channel&gt; in container",
		"`user=&lt;https://evil.example.com|click to approve&gt;`",
		"cmd=curl &lt;!everyone&gt; &amp; friends",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("message lacks %q:\n%s", want, all)
		}
	}
	for _, bad := range []string{"<!everyone>", "<!channel>", "<https://evil"} {
		if strings.Contains(all, bad) {
			t.Errorf("message contains live %q:\n%s", bad, all)
		}
	}
}

func TestNotifySpecValidateTarget(t *testing.T) {
	n := New(Config{}).Notify()
	s := n.Spec()
	if s.ID != "slack.notify" || s.Destructive || s.Reversible || len(s.Permissions) != 1 || s.Permissions[0] != "slack scope chat:write" {
		t.Errorf("spec = %+v", s)
	}
	if s.Description == "" || len(s.Params) != 3 {
		t.Errorf("spec description/params = %q %v", s.Description, s.Params)
	}
	if err := n.Validate(s.Example, true); err != nil {
		t.Errorf("example does not validate: %v", err)
	}
	tests := []struct {
		name   string
		params map[string]any
		final  bool
		want   []string // substrings of the error; none means valid
	}{
		{"load time with templated values absent", map[string]any{"thread": false}, false, nil},
		{"final missing", map[string]any{}, true, []string{"with.channel: is required", "with.text: is required"}},
		{"wrong types", map[string]any{"channel": 5, "text": "x", "thread": "yes"}, true, []string{"with.channel: must be a string", "with.thread: must be true or false"}},
		{"unknown", map[string]any{"channel": "#sre", "text": "x", "colour": "red"}, true, []string{"with.colour: unknown parameter for slack.notify"}},
		{"empty channel", map[string]any{"channel": " ", "text": "x"}, true, []string{"with.channel: must not be empty"}},
		{"two channels", map[string]any{"channel": "#a, #b", "text": "x"}, true, []string{"with.channel: must be one channel id or #name"}},
		{"empty text", map[string]any{"channel": "#sre", "text": ""}, true, []string{"with.text: must not be empty"}},
		{"ok", map[string]any{"channel": "C0123ABCD", "text": "x", "thread": false}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := n.Validate(tt.params, tt.final)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var pe *actions.ParamError
			if !errors.As(err, &pe) {
				t.Errorf("error is not a ParamError: %v", err)
			}
		})
	}
	tgt := n.Target(map[string]any{"channel": "#sre", "text": "x"})
	if tgt != (actions.Target{Kind: "slack", Name: "#sre"}) || tgt.String() != "slack/#sre" {
		t.Errorf("target = %+v (%s)", tgt, tgt)
	}
}

func TestRegistersInRegistry(t *testing.T) {
	reg := actions.NewRegistry()
	c := New(Config{})
	n := c.Notify()
	if err := c.Available(); err != nil {
		if err := reg.RegisterDryRun(n, err.Error()); err != nil {
			t.Fatal(err)
		}
	}
	why, forced := reg.ForcedDryRun(NotifyID)
	if !forced || why != "slack bot token not configured" {
		t.Errorf("ForcedDryRun = %q, %v", why, forced)
	}
}

var _ actions.Action = (*Notify)(nil)
