package slack

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBreakerMessageButtonAndEscaping(t *testing.T) {
	f := newFakeSlack(t)
	c := f.client(Config{DefaultChannel: "#sre"})
	ctx := context.Background()
	retry := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	// The target comes from event data: it must not mention anyone.
	m := BreakerMessage{BreakerID: "7bfe39e754292ce1", Playbook: "restart-flapping", Target: "Deployment/shop/<!channel>", Reason: "3 runs did not clear <@U0ALICE>", RetryAt: retry}
	ch, ts, err := c.PostBreakerOpened(ctx, m)
	if err != nil || ch == "" || ts == "" {
		t.Fatalf("PostBreakerOpened = %q %q %v", ch, ts, err)
	}
	post := f.WaitCalls(t, "chat.postMessage", 1, 5*time.Second)[0]
	if post.Form.Get("channel") != "#sre" {
		t.Errorf("posted to %q, want the default channel", post.Form.Get("channel"))
	}
	if v := post.ButtonValues()[ActionBreakerReset]; v != m.BreakerID {
		t.Errorf("Reset button value = %q, want the breaker id (buttons %v)", v, post.ButtonValues())
	}
	text := post.Text()
	if strings.Contains(text, "<!channel>") || strings.Contains(text, "<@U0ALICE>") {
		t.Errorf("event-derived text was not escaped: %q", text)
	}
	if !strings.Contains(text, "&lt;!channel&gt;") || !strings.Contains(text, "restart-flapping") {
		t.Errorf("message = %q", text)
	}

	if err := c.UpdateBreakerReset(ctx, "CSRE", ts, m, BreakerReset{By: "U0BOB", At: retry}); err != nil {
		t.Fatal(err)
	}
	up := f.WaitCalls(t, "chat.update", 1, 5*time.Second)[0]
	if !strings.Contains(up.Text(), "Reset by <@U0BOB>") || len(up.ButtonValues()) != 0 || up.Form.Get("ts") != ts {
		t.Errorf("update = %q buttons %v ts %q", up.Text(), up.ButtonValues(), up.Form.Get("ts"))
	}

	if _, _, err := c.PostBreakerOpened(ctx, BreakerMessage{}); !errors.Is(err, ErrInvalidBreaker) {
		t.Errorf("no breaker id: %v, want ErrInvalidBreaker", err)
	}
	if err := c.UpdateBreakerReset(ctx, "", "", m, BreakerReset{}); !errors.Is(err, ErrInvalidBreaker) {
		t.Errorf("no channel or ts: %v, want ErrInvalidBreaker", err)
	}
}
