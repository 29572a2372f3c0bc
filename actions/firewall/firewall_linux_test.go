package firewall_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/firewall"
	"github.com/firebreak/firebreak/engine/event"
)

// newFirewall builds a Firewall on the lab's server namespace.
func newFirewall(t testing.TB, l *lab, store firewall.BlockStore) *firewall.Firewall {
	t.Helper()
	fw, err := firewall.New(firewall.Config{
		NetNS:     l.server,
		Allowlist: []string{"192.0.2.100/32", "2001:db8:0:0:100::/80"},
		MaxTTL:    time.Hour,
		Store:     store,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Available(context.Background()); err != nil {
		t.Fatalf("Available: %v", err)
	}
	return fw
}

func block(t testing.TB, a actions.Action, params map[string]any, dry bool) actions.Result {
	t.Helper()
	if err := a.Validate(params, true); err != nil {
		t.Fatalf("Validate(%v): %v", params, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := a.Run(ctx, actions.Request{Params: params, DryRun: dry, Playbook: "test", Attempt: 1,
		Event: &event.Event{ID: "ev-1"}})
	if err != nil {
		t.Fatalf("%s %v: %v", a.Spec().ID, params, err)
	}
	return res
}

func TestBlockDropsTrafficAndUnblockLiftsIt(t *testing.T) {
	l := newLab(t)
	store := firewall.NewMemoryStore()
	fw := newFirewall(t, l, store)
	for _, tc := range []struct {
		name           string
		blocked, other string
	}{
		{"ipv4", clientV4.String(), otherV4.String()},
		{"ipv6", clientV6.String(), otherV6.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocked, other := mustAddr(tc.blocked), mustAddr(tc.other)
			l.passes(t, blocked)
			l.passes(t, other)

			res := block(t, fw.BlockAction(), map[string]any{"ip": tc.blocked, "ttl": "10m", "reason": "test " + tc.name}, false)
			if res.Before["blocked"] != false || res.After["blocked"] != true {
				t.Fatalf("before/after = %v / %v", res.Before, res.After)
			}
			if got := res.After["timeout"]; got != "10m" {
				t.Errorf("after timeout = %v, want 10m", got)
			}
			l.dropped(t, blocked)
			l.passes(t, other)

			set := "blocked_ipv4"
			if blocked.Is6() {
				set = "blocked_ipv6"
			}
			out := l.nft(t, "list", "set", "inet", "firebreak", set)
			if !strings.Contains(out, tc.blocked) || !strings.Contains(out, `comment "test `+tc.name+`"`) {
				t.Errorf("nft list set: want %s with its comment:\n%s", tc.blocked, out)
			}
			if bs, _ := store.ListBlocks(context.Background()); len(bs) != 1 || bs[0].IP != blocked || bs[0].EventID != "ev-1" {
				t.Errorf("recorded blocks = %+v", bs)
			}

			res = block(t, fw.UnblockAction(), map[string]any{"ip": tc.blocked}, false)
			if res.Before["blocked"] != true || res.After["blocked"] != false {
				t.Fatalf("unblock before/after = %v / %v", res.Before, res.After)
			}
			l.passes(t, blocked)
			if bs, _ := store.ListBlocks(context.Background()); len(bs) != 0 {
				t.Errorf("recorded blocks after unblock = %+v", bs)
			}

			res = block(t, fw.UnblockAction(), map[string]any{"ip": tc.blocked}, false)
			if !strings.Contains(res.Summary, "was not blocked") {
				t.Errorf("second unblock summary = %q", res.Summary)
			}
		})
	}
	// The rules are counted and commented, as nft shows them.
	out := l.nft(t, "list", "chain", "inet", "firebreak", "input")
	for _, want := range []string{"hook input", "ip saddr @blocked_ipv4", "ip6 saddr @blocked_ipv6", "drop"} {
		if !strings.Contains(out, want) {
			t.Errorf("chain input lacks %q:\n%s", want, out)
		}
	}
}

func TestBlockExpiresByItself(t *testing.T) {
	l := newLab(t)
	fw := newFirewall(t, l, firewall.NewMemoryStore())
	start := time.Now()
	block(t, fw.BlockAction(), map[string]any{"ip": otherV4.String(), "ttl": "2s"}, false)
	l.dropped(t, otherV4)
	l.passes(t, clientV4)
	for l.connect(otherV4, 300*time.Millisecond) != nil {
		if time.Since(start) > 6*time.Second {
			t.Fatalf("block with ttl 2s still dropping after %s", time.Since(start))
		}
	}
	took := time.Since(start)
	if took < 1500*time.Millisecond {
		t.Fatalf("block lifted after %s, before its 2s ttl", took)
	}
	t.Logf("block with ttl 2s lifted by the kernel after %s", took.Round(10*time.Millisecond))
	if out := l.nft(t, "list", "set", "inet", "firebreak", "blocked_ipv4"); strings.Contains(out, otherV4.String()) {
		t.Errorf("expired element still listed:\n%s", out)
	}
}

func TestReblockRestartsTTL(t *testing.T) {
	l := newLab(t)
	fw := newFirewall(t, l, firewall.NewMemoryStore())
	block(t, fw.BlockAction(), map[string]any{"ip": clientV4.String(), "ttl": "1m"}, false)
	res := block(t, fw.BlockAction(), map[string]any{"ip": clientV4.String(), "ttl": "30m"}, false)
	if res.Before["blocked"] != true || res.Before["timeout"] != "1m" || res.After["timeout"] != "30m" {
		t.Fatalf("before/after = %v / %v", res.Before, res.After)
	}
	if !strings.HasPrefix(res.Summary, "re-blocked") {
		t.Errorf("summary = %q", res.Summary)
	}
	l.dropped(t, clientV4)
}

func TestNeverBlockedAddressesAreRefused(t *testing.T) {
	l := newLab(t)
	store := firewall.NewMemoryStore()
	fw := newFirewall(t, l, store)
	a := fw.BlockAction()
	for _, tc := range []struct{ ip, why string }{
		{allowedV4.String(), "allow-listed by 192.0.2.100/32"},
		{"2001:db8::100:0:0:7", "allow-listed by 2001:db8:0:0:100::/80"},
		{serverV4.String(), "an address of network namespace /var/run/netns/" + l.server},
		{serverV6.String(), "an address of network namespace"},
		{"127.0.0.1", "a loopback address"},
		{"::1", "a loopback address"},
		{"169.254.1.1", "a link-local address"},
		{"fe80::1", "a link-local address"},
		{"0.0.0.0", "the unspecified address"},
		{"224.0.0.1", "a multicast address"},
		{"255.255.255.255", "the broadcast address"},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			for _, dry := range []bool{false, true} {
				_, err := a.Run(context.Background(), actions.Request{Params: map[string]any{"ip": tc.ip}, DryRun: dry})
				if !errors.Is(err, firewall.ErrRefused) || !errors.Is(err, actions.ErrPermanent) {
					t.Fatalf("dry=%v: err = %v, want a permanent ErrRefused", dry, err)
				}
				if !strings.Contains(err.Error(), tc.why) {
					t.Errorf("err = %q, want it to say %q", err, tc.why)
				}
			}
		})
	}
	l.passes(t, allowedV4)
	if bs, _ := store.ListBlocks(context.Background()); len(bs) != 0 {
		t.Errorf("refused blocks were recorded: %+v", bs)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	l := newLab(t)
	store := firewall.NewMemoryStore()
	fw := newFirewall(t, l, store)
	res := block(t, fw.BlockAction(), map[string]any{"ip": clientV4.String(), "ttl": "5m"}, true)
	want := "would block 192.0.2.2 for 5m: add it to set inet firebreak blocked_ipv4 with timeout 5m, " +
		"after creating table inet firebreak with its sets and input/forward drop rules"
	if res.Summary != want {
		t.Errorf("summary = %q\nwant      %q", res.Summary, want)
	}
	if res.Before["blocked"] != false || res.After["blocked"] != true || res.After["expires_in"] != "5m" {
		t.Errorf("before/after = %v / %v", res.Before, res.After)
	}
	if out := l.nft(t, "list", "tables"); strings.Contains(out, "firebreak") {
		t.Fatalf("dry run created the table:\n%s", out)
	}
	l.passes(t, clientV4)

	// With the table there, a dry run neither adds nor removes elements.
	block(t, fw.BlockAction(), map[string]any{"ip": otherV4.String()}, false)
	before := l.nft(t, "list", "set", "inet", "firebreak", "blocked_ipv4")
	block(t, fw.BlockAction(), map[string]any{"ip": clientV4.String()}, true)
	res = block(t, fw.UnblockAction(), map[string]any{"ip": otherV4.String()}, true)
	if !strings.HasPrefix(res.Summary, "would unblock 192.0.2.3") {
		t.Errorf("unblock dry-run summary = %q", res.Summary)
	}
	l.dropped(t, otherV4)
	l.passes(t, clientV4)
	if bs, _ := store.ListBlocks(context.Background()); len(bs) != 1 {
		t.Errorf("recorded blocks = %+v, want only the real one", bs)
	}
	if after := l.nft(t, "list", "set", "inet", "firebreak", "blocked_ipv4"); !strings.Contains(after, "192.0.2.3") ||
		strings.Contains(after, "192.0.2.2") || strings.Count(before, "192.0.2.") != strings.Count(after, "192.0.2.") {
		t.Errorf("dry runs changed the set:\n%s\nthen\n%s", before, after)
	}
}

func TestRestoreReinstallsAfterFlushAndRestart(t *testing.T) {
	l := newLab(t)
	store := firewall.NewMemoryStore()
	fw := newFirewall(t, l, store)
	block(t, fw.BlockAction(), map[string]any{"ip": clientV4.String(), "ttl": "10m"}, false)
	block(t, fw.BlockAction(), map[string]any{"ip": clientV6.String(), "ttl": "10m"}, false)
	l.dropped(t, clientV4)

	// Someone flushes the ruleset: the blocks are gone from the kernel.
	l.nft(t, "flush", "ruleset")
	l.passes(t, clientV4)
	l.passes(t, clientV6)

	// A restart: a new Firewall on the same store restores them.
	fw2 := newFirewall(t, l, store)
	rep, err := fw2.Restore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep != (firewall.RestoreReport{Restored: 2}) {
		t.Errorf("report = %+v, want 2 restored", rep)
	}
	l.dropped(t, clientV4)
	l.dropped(t, clientV6)
	out := l.nft(t, "list", "set", "inet", "firebreak", "blocked_ipv4")
	if !strings.Contains(out, "192.0.2.2 timeout") {
		t.Errorf("restored element lacks its timeout:\n%s", out)
	}

	// A second Restore leaves installed blocks alone.
	if rep, err = fw2.Restore(context.Background()); err != nil || rep != (firewall.RestoreReport{Present: 2}) {
		t.Errorf("second restore = %+v, %v; want 2 present", rep, err)
	}

	// A flush followed by a new block heals by itself: the table comes back
	// with every recorded block, not only the new one.
	l.nft(t, "flush", "ruleset")
	res := block(t, fw2.BlockAction(), map[string]any{"ip": otherV6.String(), "ttl": "10m"}, false)
	if res.Output["restored"] != 2 {
		t.Errorf("output = %v, want restored 2", res.Output)
	}
	// Blocking a recorded address after a flush restores it, then applies
	// the new ttl.
	l.nft(t, "flush", "ruleset")
	res = block(t, fw2.BlockAction(), map[string]any{"ip": clientV4.String(), "ttl": "20m"}, false)
	if res.Output["restored"] != 3 || res.After["timeout"] != "20m" {
		t.Errorf("output = %v, after = %v; want 3 restored and timeout 20m", res.Output, res.After)
	}
	l.dropped(t, clientV4)
	l.dropped(t, clientV6)
	l.dropped(t, otherV6)
	l.passes(t, otherV4)
}

func TestRestoreForgetsExpiredAndRefusedBlocks(t *testing.T) {
	l := newLab(t)
	store := firewall.NewMemoryStore()
	now := time.Now()
	ctx := context.Background()
	for _, b := range []firewall.Block{
		{IP: clientV4, ExpiresAt: now.Add(-time.Second)},   // expired
		{IP: allowedV4, ExpiresAt: now.Add(time.Minute)},   // allow-listed since
		{IP: serverV4, ExpiresAt: now.Add(time.Minute)},    // the host's own address
		{IP: otherV4, ExpiresAt: now.Add(3 * time.Second)}, // still due
		{IP: otherV6, ExpiresAt: now.Add(48 * time.Hour)},  // beyond the max: capped
	} {
		if err := store.SaveBlock(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// 192.0.2.100 was blocked before it joined the allowlist.
	old, err := firewall.New(firewall.Config{NetNS: l.server, Store: firewall.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	block(t, old.BlockAction(), map[string]any{"ip": allowedV4.String()}, false)
	l.dropped(t, allowedV4)

	fw := newFirewall(t, l, store)
	rep, err := fw.Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (firewall.RestoreReport{Restored: 2, Expired: 1, Refused: 2}); rep != want {
		t.Errorf("report = %+v, want %+v", rep, want)
	}
	bs, _ := store.ListBlocks(ctx)
	if len(bs) != 2 || bs[0].IP != otherV4 || bs[1].IP != otherV6 {
		t.Errorf("recorded blocks = %+v, want the two still due", bs)
	}
	l.dropped(t, otherV4)
	l.passes(t, clientV4)
	l.passes(t, allowedV4)
	out := l.nft(t, "list", "set", "inet", "firebreak", "blocked_ipv6")
	if !strings.Contains(out, "timeout 1h") {
		t.Errorf("block beyond the max not capped to 1h:\n%s", out)
	}
}

func TestTableRepairedWhenChainDeleted(t *testing.T) {
	l := newLab(t)
	fw := newFirewall(t, l, firewall.NewMemoryStore())
	block(t, fw.BlockAction(), map[string]any{"ip": clientV4.String()}, false)
	l.nft(t, "delete", "chain", "inet", "firebreak", "input")
	l.passes(t, clientV4)
	// The next block sees the damage and repairs it, keeping the set.
	block(t, fw.BlockAction(), map[string]any{"ip": otherV6.String()}, false)
	l.dropped(t, clientV4)
	l.dropped(t, otherV6)
}

func TestAvailableReportsMissingNamespace(t *testing.T) {
	fw, err := firewall.New(firewall.Config{NetNS: "fbtest-does-not-exist"})
	if err != nil {
		t.Fatal(err)
	}
	err = fw.Available(context.Background())
	if !errors.Is(err, firewall.ErrUnavailable) || !errors.Is(err, firewall.ErrNetNS) {
		t.Fatalf("err = %v, want ErrUnavailable and ErrNetNS", err)
	}
}

// BenchmarkBlockUnblock measures one block_ip run and one unblock_ip run
// against a whole table holding a thousand other blocks.
func BenchmarkBlockUnblock(b *testing.B) {
	l := newLab(b)
	fw := newFirewall(b, l, firewall.NewMemoryStore())
	for i := range 1000 {
		ip := netip.AddrFrom4([4]byte{198, 51, byte(i / 250), byte(1 + i%250)})
		block(b, fw.BlockAction(), map[string]any{"ip": ip.String(), "ttl": "10m"}, false)
	}
	b.ResetTimer()
	for b.Loop() {
		block(b, fw.BlockAction(), map[string]any{"ip": clientV4.String(), "ttl": "10m"}, false)
		block(b, fw.UnblockAction(), map[string]any{"ip": clientV4.String()}, false)
	}
}

// Reconcile follows the recorded blocks, as a replica follows the
// cluster's: a block recorded elsewhere is installed, one re-made elsewhere
// with a longer ttl gets the recorded expiry, and one lifted elsewhere (its
// record gone) is lifted here. Restore, by contrast, never lifts.
func TestReconcileFollowsTheRecordedBlocks(t *testing.T) {
	l := newLab(t)
	store := firewall.NewMemoryStore()
	fw := newFirewall(t, l, store)
	ctx := context.Background()
	save := func(ip netip.Addr, ttl time.Duration) {
		t.Helper()
		if err := store.SaveBlock(ctx, firewall.Block{IP: ip, ExpiresAt: time.Now().Add(ttl), Reason: "elsewhere"}); err != nil {
			t.Fatal(err)
		}
	}
	reconcile := func(want firewall.RestoreReport) {
		t.Helper()
		rep, err := fw.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep != want {
			t.Errorf("reconcile = %+v, want %+v", rep, want)
		}
	}

	// Blocked on another replica: installed here.
	save(clientV4, 10*time.Minute)
	reconcile(firewall.RestoreReport{Restored: 1})
	l.dropped(t, clientV4)
	reconcile(firewall.RestoreReport{Present: 1})

	// Re-blocked elsewhere for 40 minutes: the kernel's expiry follows.
	save(clientV4, 40*time.Minute)
	reconcile(firewall.RestoreReport{Retimed: 1})
	out := l.nft(t, "list", "set", "inet", "firebreak", "blocked_ipv4")
	if !strings.Contains(out, "expires 39m") {
		t.Errorf("retimed element does not expire in about 40m:\n%s", out)
	}
	l.dropped(t, clientV4)

	// Unblocked elsewhere: the record is gone, so the block is lifted here.
	if err := store.DeleteBlock(ctx, clientV4); err != nil {
		t.Fatal(err)
	}
	save(clientV6, 10*time.Minute)
	if rep, err := fw.Restore(ctx); err != nil || rep.Lifted != 0 {
		t.Errorf("restore = %+v, %v; Restore must not lift", rep, err)
	}
	l.dropped(t, clientV4)
	reconcile(firewall.RestoreReport{Present: 1, Lifted: 1})
	l.passes(t, clientV4)
	l.dropped(t, clientV6)
}
