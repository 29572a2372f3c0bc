package slack

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/engine/event"
)

func TestThreadKey(t *testing.T) {
	firing := crashLooping("fp1", event.StatusFiring)
	resolved := crashLooping("fp1", event.StatusResolved)
	if ThreadKey("#sre", firing) != ThreadKey("#sre", resolved) {
		t.Errorf("firing and resolved notifications of one alert have different keys")
	}
	if ThreadKey("#sre", firing) == ThreadKey("#ops", firing) {
		t.Errorf("the channel is not part of the key")
	}
	a, b := crashLooping("", event.StatusFiring), crashLooping("", event.StatusResolved)
	if ka, kb := ThreadKey("#sre", a), ThreadKey("#sre", b); ka == "" || ka != kb {
		t.Errorf("name+labels keys %q and %q", ka, kb)
	}
	b.Labels = map[string]string{"namespace": "shop", "deployment": "other"}
	if ThreadKey("#sre", a) == ThreadKey("#sre", b) {
		t.Errorf("different labels share a key")
	}
	for _, ev := range []*event.Event{nil, {}} {
		if k := ThreadKey("#sre", ev); k != "" {
			t.Errorf("ThreadKey(%v) = %q, want none", ev, k)
		}
	}
	if k := ThreadKey("", firing); k != "" {
		t.Errorf("ThreadKey without channel = %q", k)
	}
}

func TestMemoryThreadsEvictsOldest(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryThreads(2)
	for _, kv := range [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}, {"c", "4"}} {
		if err := m.PutThread(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := m.GetThread(ctx, "a"); ok {
		t.Errorf("oldest thread kept")
	}
	for k, want := range map[string]string{"b": "2", "c": "4"} {
		if ts, ok, err := m.GetThread(ctx, k); !ok || err != nil || ts != want {
			t.Errorf("GetThread(%q) = %q, %v, %v", k, ts, ok, err)
		}
	}
	if m.Len() != 2 {
		t.Errorf("Len = %d", m.Len())
	}
}

type brokenThreads struct{}

func (brokenThreads) GetThread(context.Context, string) (string, bool, error) {
	return "", false, errors.New("bbolt: database not open")
}
func (brokenThreads) PutThread(context.Context, string, string) error {
	return errors.New("bbolt: database not open")
}

// A thread store failure costs the threading, not the notification, and is
// logged without the token.
func TestNotifySurvivesThreadStoreFailure(t *testing.T) {
	f := newFakeSlack(t)
	var logs bytes.Buffer
	n := f.client(Config{Threads: brokenThreads{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Notify()
	if _, err := n.Run(context.Background(), notifyReq("#sre", "x", crashLooping("fp1", event.StatusFiring))); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(f.Calls("chat.postMessage")) != 1 {
		t.Fatalf("message not posted")
	}
	out := logs.String()
	if !strings.Contains(out, "slack thread lookup failed") || !strings.Contains(out, "slack thread not recorded") {
		t.Errorf("logs = %s", out)
	}
	if strings.Contains(out, testToken) {
		t.Errorf("logs leak the token: %s", out)
	}
}
