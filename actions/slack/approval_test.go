package slack

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/approval/notify"
	"github.com/firebreak/firebreak/engine/event"
)

func restartApproval() notify.Request {
	return notify.Request{
		ID:       "appr-01JPB6X4Q9",
		PlanHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Event:    crashLooping("fp1", event.StatusFiring),
		Playbook: "restart-crashlooping-deployment",
		Action:   "kubernetes.restart",
		Target:   "Deployment/shop/cart",
		Params: map[string]any{
			"kind": "Deployment", "namespace": "shop", "name": "cart",
			"min_ready": 2, "token": "[redacted]",
		},
		Guards: []notify.GuardVerdict{
			{Guard: "protected", OK: true, Verdict: "pass"},
			{Guard: "dedupe", OK: true, Verdict: "pass", Detail: "not seen in 15m"},
			{Guard: "budget", OK: true, Verdict: "pass", Detail: "1 of 3 in 1h"},
		},
		ExpiresAt: time.Date(2026, 11, 29, 19, 15, 0, 0, time.UTC),
		Required:  2,
	}
}

func TestPostApproval(t *testing.T) {
	f := newFakeSlack(t)
	c := f.client(Config{DefaultChannel: "#approvals"})
	channel, ts, err := c.PostApproval(context.Background(), restartApproval())
	if err != nil {
		t.Fatalf("PostApproval: %v", err)
	}
	if channel != "CAPPROVALS" || ts != "1741944420.000001" {
		t.Errorf("channel, ts = %q, %q", channel, ts)
	}
	posts := f.Calls("chat.postMessage")
	if len(posts) != 1 || posts[0].Form.Get("channel") != "#approvals" {
		t.Fatalf("posts = %v", posts)
	}
	if got := posts[0].Form.Get("text"); got != "Approval needed: kubernetes.restart on Deployment/shop/cart" {
		t.Errorf("fallback text = %q", got)
	}
	blocks := blocksOf(t, posts[0])
	if blocks[0]["type"] != "header" {
		t.Errorf("first block is %v, want a header", blocks[0]["type"])
	}
	text := allText(blocks)
	for _, want := range []string{
		"Approval needed: kubernetes.restart on Deployment/shop/cart",
		"*What fired:* :red_circle: *KubePodCrashLooping* (critical, firing) from alertmanager",
		"Playbook `restart-crashlooping-deployment` wants to run `kubernetes.restart` on `Deployment/shop/cart`.",
		"```kind: \"Deployment\"\nmin_ready: 2\nname: \"cart\"\nnamespace: \"shop\"\ntoken: \"[redacted]\"```",
		":white_check_mark: dedupe: pass (not seen in 15m)",
		":white_check_mark: budget: pass (1 of 3 in 1h)",
		"Expires <!date^1795979700^{date_short_pretty} at {time}|2026-11-29 19:15 UTC> (denied if undecided)",
		"Needs 2 distinct approvers",
		"Approval `appr-01JPB6X4Q9` · plan `9f86d081884…`",
		"|View alert>",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("approval lacks %q; text:\n%s", want, text)
		}
	}
	bs := buttons(blocks)
	if len(bs) != 2 {
		t.Fatalf("got %d buttons, want 2", len(bs))
	}
	value := "appr-01JPB6X4Q9:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for i, want := range []struct{ id, label, style string }{
		{ActionApprove, "Approve", "primary"},
		{ActionDeny, "Deny", "danger"},
	} {
		b := bs[i]
		if b["action_id"] != want.id || b["value"] != value || b["style"] != want.style {
			t.Errorf("button %d = %v", i, b)
		}
		if got := allText(b["text"]); !strings.Contains(got, want.label) {
			t.Errorf("button %d label = %q", i, got)
		}
	}
	if _, ok := bs[0]["confirm"]; !ok {
		t.Errorf("approve button has no confirmation dialog")
	}
	for _, b := range blocks {
		if b["type"] == "actions" && b["block_id"] != ApprovalBlock {
			t.Errorf("actions block id = %v", b["block_id"])
		}
	}
}

func TestPostApprovalRefusesBadInput(t *testing.T) {
	f := newFakeSlack(t)
	c := f.client(Config{})
	ok := restartApproval()
	noID := ok
	noID.ID = ""
	noHash := ok
	noHash.PlanHash = ""
	colon := ok
	colon.PlanHash = "a:b"
	for _, tt := range []struct {
		name string
		c    *Client
		m    notify.Request
		want error
	}{
		{"no id", c, noID, ErrInvalidApproval},
		{"no hash", c, noHash, ErrInvalidApproval},
		{"colon in hash", c, colon, ErrInvalidApproval},
		{"no channel", c, ok, ErrNoChannel},
		{"no token", New(Config{APIURL: f.APIURL(), DefaultChannel: "#a"}), ok, ErrNotConfigured},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := tt.c.PostApproval(context.Background(), tt.m); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	m := ok
	m.Channel = "#missing"
	_, _, err := c.PostApproval(context.Background(), m)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "channel_not_found" || !errors.Is(err, actions.ErrPermanent) {
		t.Errorf("err = %v, want a permanent channel_not_found", err)
	}
	if len(f.Calls("chat.postMessage")) != 0 {
		t.Errorf("a refused approval was posted")
	}
}

func TestUpdateApproval(t *testing.T) {
	at := time.Date(2026, 11, 29, 19, 5, 0, 0, time.UTC)
	tests := []struct {
		name     string
		state    notify.State
		header   string
		want     []string
		wantBtns bool
	}{
		{
			"first of two approvals", notify.State{Status: notify.StatusPending, By: []string{"U0ALICE"}},
			"Approval needed: kubernetes.restart on Deployment/shop/cart",
			[]string{":hourglass_flowing_sand: Approved by <@U0ALICE> (1 of 2)."}, true,
		},
		{
			"approved", notify.State{Status: notify.StatusApproved, By: []string{"U0ALICE", "U0BOB"}, At: at},
			"Approved: kubernetes.restart on Deployment/shop/cart",
			[]string{":white_check_mark: Approved by <@U0ALICE>, <@U0BOB> <!date^1795979100^"}, false,
		},
		{
			"approved then ran", notify.State{Status: notify.StatusApproved, By: []string{"U0ALICE", "U0BOB"}, Outcome: "restarted Deployment shop/cart"},
			"Approved: kubernetes.restart on Deployment/shop/cart",
			[]string{":white_check_mark: Approved by <@U0ALICE>, <@U0BOB>.", ":gear: Outcome: restarted Deployment shop/cart"}, false,
		},
		{
			"approved then refused", notify.State{Status: notify.StatusApproved, By: []string{"api:alice"}, Outcome: "refused: budget_exhausted <3/1h>", Failed: true},
			"Approved: kubernetes.restart on Deployment/shop/cart",
			[]string{"Approved by api:alice.", ":warning: Failed: refused: budget_exhausted &lt;3/1h&gt;"}, false,
		},
		{
			"denied", notify.State{Status: notify.StatusDenied, By: []string{"U0BOB"}, At: at, Reason: "not during the sale"},
			"Denied: kubernetes.restart on Deployment/shop/cart",
			[]string{":no_entry: Denied by <@U0BOB> <!date^1795979100^{date_short_pretty} at {time}|2026-11-29 19:05 UTC>: not during the sale."}, false,
		},
		{
			"expired", notify.State{Status: notify.StatusExpired, At: at},
			"Expired: kubernetes.restart on Deployment/shop/cart",
			[]string{":hourglass: Expired <!date^1795979100^", "without a decision; denied by default."}, false,
		},
		{
			"cancelled", notify.State{Status: notify.StatusCancelled, Reason: "the alert resolved"},
			"Cancelled: kubernetes.restart on Deployment/shop/cart",
			[]string{":heavy_multiplication_x: Cancelled: the alert resolved."}, false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			c := f.client(Config{})
			if err := c.UpdateApproval(context.Background(), "C07INCIDENT", "1741944420.001900", restartApproval(), tt.state); err != nil {
				t.Fatalf("UpdateApproval: %v", err)
			}
			ups := f.Calls("chat.update")
			if len(ups) != 1 {
				t.Fatalf("got %d updates", len(ups))
			}
			u := ups[0]
			if u.Form.Get("channel") != "C07INCIDENT" || u.Form.Get("ts") != "1741944420.001900" {
				t.Errorf("updated %s/%s", u.Form.Get("channel"), u.Form.Get("ts"))
			}
			if got := u.Form.Get("text"); got != tt.header {
				t.Errorf("fallback text = %q, want %q", got, tt.header)
			}
			blocks := blocksOf(t, u)
			if got := allText(blocks[0]); !strings.Contains(got, tt.header) {
				t.Errorf("header = %q, want %q", got, tt.header)
			}
			text := allText(blocks)
			for _, w := range append(tt.want, "Playbook `restart-crashlooping-deployment` wants to run `kubernetes.restart`", "name: \"cart\"") {
				if !strings.Contains(text, w) {
					t.Errorf("update lacks %q; text:\n%s", w, text)
				}
			}
			if got := len(buttons(blocks)) > 0; got != tt.wantBtns {
				t.Errorf("buttons present = %v, want %v", got, tt.wantBtns)
			}
		})
	}
}

func TestUpdateApprovalErrors(t *testing.T) {
	f := newFakeSlack(t)
	c := f.client(Config{})
	err := c.UpdateApproval(context.Background(), "C07INCIDENT", "404.000000", restartApproval(), notify.State{Status: notify.StatusExpired})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Method != "chat.update" || ae.Code != "message_not_found" || !errors.Is(err, actions.ErrPermanent) {
		t.Errorf("err = %v", err)
	}
	if err := c.UpdateApproval(context.Background(), "", "1.2", restartApproval(), notify.State{}); !errors.Is(err, ErrInvalidApproval) {
		t.Errorf("no channel: err = %v", err)
	}
	err = f.client(Config{Token: badToken}).UpdateApproval(context.Background(), "C1", "1.2", restartApproval(), notify.State{Status: notify.StatusDenied})
	if err == nil || strings.Contains(err.Error(), badToken) || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("bad token: err = %v", err)
	}
}

func TestEphemeralReplies(t *testing.T) {
	f := newFakeSlack(t)
	c := f.client(Config{})
	ctx := context.Background()

	if err := c.PostEphemeral(ctx, "C07INCIDENT", "U0MALLORY", "You are not allowed to approve <this>."); err != nil {
		t.Fatalf("PostEphemeral: %v", err)
	}
	eph := f.Calls("chat.postEphemeral")
	if len(eph) != 1 {
		t.Fatalf("got %d ephemeral posts", len(eph))
	}
	if got := eph[0].Form; got.Get("channel") != "C07INCIDENT" || got.Get("user") != "U0MALLORY" || got.Get("text") != "You are not allowed to approve &lt;this&gt;." {
		t.Errorf("ephemeral = %v", got)
	}
	if err := c.PostEphemeral(ctx, "#missing", "U0MALLORY", "x"); !errors.Is(err, actions.ErrPermanent) {
		t.Errorf("missing channel: err = %v", err)
	}

	// response_url: needs no token, and must not receive it.
	responseURL := f.ResponseURL()
	if err := c.RespondEphemeral(ctx, responseURL, "Not allowed."); err != nil {
		t.Fatalf("RespondEphemeral: %v", err)
	}
	rs := f.Calls("response_url")
	if len(rs) != 1 || rs[0].JSON["text"] != "Not allowed." || rs[0].JSON["response_type"] != "ephemeral" {
		t.Errorf("response_url calls = %v", rs)
	}
	if err := New(Config{}).RespondEphemeral(ctx, responseURL, "works without a token"); err != nil {
		t.Errorf("RespondEphemeral without a token: %v", err)
	}
	if err := c.RespondEphemeral(ctx, "file:///etc/passwd", "x"); err == nil {
		t.Errorf("non-http response_url accepted")
	}
}

func TestUserInGroups(t *testing.T) {
	f := newFakeSlack(t)
	c := f.client(Config{})
	ctx := context.Background()
	for _, tt := range []struct {
		user   string
		groups []string
		want   bool
	}{
		{"U0ALICE", []string{"S0ONCALL"}, true},
		{"U0CAROL", []string{"S0ONCALL", "S0SRE"}, true},
		{"U0MALLORY", []string{"S0ONCALL", "S0SRE"}, false},
		{"U0ALICE", nil, false},
		{"", []string{"S0ONCALL"}, false},
	} {
		got, err := c.UserInGroups(ctx, tt.user, tt.groups)
		if err != nil || got != tt.want {
			t.Errorf("UserInGroups(%q, %v) = %v, %v; want %v", tt.user, tt.groups, got, err, tt.want)
		}
	}
	calls := f.Calls("usergroups.users.list")
	if len(calls) == 0 || calls[0].Form.Get("usergroup") != "S0ONCALL" {
		t.Errorf("usergroups.users.list calls = %v", calls)
	}
	_, err := c.UserInGroups(ctx, "U0ALICE", []string{"S0GONE"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "no_such_subteam" || !strings.Contains(err.Error(), "user group S0GONE") {
		t.Errorf("unknown group: err = %v", err)
	}
	if _, err := New(Config{}).UserInGroups(ctx, "U0ALICE", []string{"S0ONCALL"}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("no token: err = %v", err)
	}
}

func TestDecisionValue(t *testing.T) {
	for _, tt := range []struct{ value, id, hash string }{
		{DecisionValue("appr-1", "abc123"), "appr-1", "abc123"},
		{"ns:appr-1:abc123", "ns:appr-1", "abc123"},
		{"run-01JPB6X4Q9", "run-01JPB6X4Q9", ""},
		{"", "", ""},
	} {
		id, hash := ParseDecisionValue(tt.value)
		if id != tt.id || hash != tt.hash {
			t.Errorf("ParseDecisionValue(%q) = %q, %q; want %q, %q", tt.value, id, hash, tt.id, tt.hash)
		}
	}
}
