package firewall_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/firewall"
)

// Two hosts (the lab's two namespaces) share one list of blocks, as the
// replicas of a cluster do. A block made on host A is installed on host B
// by B's Reconcile; once A lifts it (and forgets its record), B's Reconcile
// lifts it too, while B's Restore (start-up on a list that may forget on
// restart) leaves it to its ttl.
func TestReconcileLiftsBlocksLiftedOnAnotherHost(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	shared := firewall.NewMemoryStore()
	mk := func(ns string) *firewall.Firewall {
		fw, err := firewall.New(firewall.Config{NetNS: ns, Store: shared, MaxTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return fw
	}
	hostA, hostB := mk(l.server), mk(l.client)
	const ip = "203.0.113.7"
	inB := func() bool {
		out, err := exec.Command("ip", "netns", "exec", l.client, "nft", "list", "set", "inet", "firebreak", "blocked_ipv4").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list set in B: %v\n%s", err, out)
		}
		return strings.Contains(string(out), ip)
	}

	block(t, hostA.BlockAction(), map[string]any{"ip": ip, "ttl": "10m"}, false)
	if rep, err := hostB.Reconcile(ctx); err != nil || rep.Restored != 1 {
		t.Fatalf("B's reconcile after A's block = %+v, %v; want 1 restored", rep, err)
	}
	if !inB() {
		t.Fatal("A's block is not installed on B")
	}

	block(t, hostA.UnblockAction(), map[string]any{"ip": ip}, false)
	if rep, err := hostB.Restore(ctx); err != nil || rep.Lifted != 0 {
		t.Fatalf("a restore = %+v, %v; want nothing lifted", rep, err)
	}
	if !inB() {
		t.Fatal("a restore lifted an unrecorded block")
	}
	rep, err := hostB.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (firewall.RestoreReport{Lifted: 1}); rep != want {
		t.Errorf("B's reconcile after A's unblock = %+v, want %+v", rep, want)
	}
	if inB() {
		t.Error("the block A lifted is still installed on B")
	}
}
