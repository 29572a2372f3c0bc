package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const firewallPlaybooks = `
name: block
match: event.source == "alertmanager" && event.status == "firing" && event.name == "BlockIP"
steps:
  - action: firewall.block_ip
    with: { ip: "{{ event.labels.ip }}", ttl: 30s, reason: "cluster test" }
---
name: unblock
match: event.source == "alertmanager" && event.status == "firing" && event.name == "UnblockIP"
steps:
  - action: firewall.unblock_ip
    with: { ip: "{{ event.labels.ip }}" }
`

// needNetNS skips (fails under CI=true) unless this process can create
// network namespaces and drive nftables in them.
func needNetNS(t *testing.T) {
	t.Helper()
	need(t, os.Geteuid() == 0, "IP block tests need root to create network namespaces")
	for _, bin := range []string{"ip", "nft"} {
		_, err := exec.LookPath(bin)
		need(t, err == nil, bin+" not installed (Debian packages iproute2, nftables)")
	}
}

// netns creates a network namespace, removed when the test ends.
func netns(t *testing.T, tag string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "fbct-" + tag + "-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	return name
}

var elemRE = regexp.MustCompile(`(\d+\.\d+\.\d+\.\d+) timeout \S+ expires (\S+)`)

// blocked lists the addresses in Firebreak's IPv4 set in namespace ns,
// each with when the kernel drops it.
func blocked(t *testing.T, ns string) map[string]time.Time {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "set", "inet", "firebreak", "blocked_ipv4").CombinedOutput()
	now := time.Now()
	if err != nil {
		if bytes.Contains(out, []byte("No such file")) {
			return nil // the table is not there yet
		}
		t.Fatalf("nft list set in %s: %v\n%s", ns, err, out)
	}
	got := map[string]time.Time{}
	for _, m := range elemRE.FindAllStringSubmatch(string(out), -1) {
		left, err := time.ParseDuration(m[2])
		if err != nil {
			t.Fatalf("nft expires %q in %s: %v", m[2], ns, err)
		}
		got[m[1]] = now.Add(left)
	}
	return got
}

// recordedBlocks reads the cluster's list of blocks straight from etcd.
func recordedBlocks(t *testing.T, cli *clientv3.Client, prefix string) map[string]time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, kv := range resp.Kvs {
		if !strings.Contains(string(kv.Key), "/state/firewall_blocks/") {
			continue
		}
		var b struct {
			IP        string    `json:"ip"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		if err := json.Unmarshal(kv.Value, &b); err != nil {
			t.Fatalf("block record %s: %v", kv.Key, err)
		}
		out[b.IP] = b.ExpiresAt
	}
	return out
}

// ipAlert posts a firing alert name for address ip to replica r.
func ipAlert(t *testing.T, r *replica, name, ip string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "firebreak", "groupKey": "{}:{}",
		"alerts": []map[string]any{{
			"status": "firing", "fingerprint": name + "-" + ip,
			"labels":   map[string]string{"alertname": name, "ip": ip},
			"startsAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano),
		}},
	})
	resp, err := http.Post(r.url+"/hooks/alertmanager", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s to %s = %d", name, r.name, resp.StatusCode)
	}
}

// TestClusterIPBlocksAreShared: three replica processes, each with
// firewall actions enabled on its own network namespace (its "host"),
// share one list of blocks in etcd. A block made on fb-0 appears, by each
// replica's reconciliation, in every namespace with the same kernel expiry
// as the recorded one; an unblock on fb-2 of an address blocked on fb-1
// lifts it in every namespace; when the block's ttl runs out, it is gone
// from every namespace at the same time and from the cluster's list.
// Real nftables in real namespaces; about 35 s (the reconciliation runs
// every 10 s and the ttl is 30 s).
func TestClusterIPBlocksAreShared(t *testing.T) {
	needNetNS(t)
	start := time.Now()
	etcd := startEtcd(t)
	cli := etcd.client(t)
	pbDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pbDir, "pb.yaml"), []byte(firewallPlaybooks), 0o600); err != nil {
		t.Fatal(err)
	}
	const prefix = "/fb-fw"
	nss := make([]string, 3)
	reps := make([]*replica, 3)
	for i := range reps {
		nss[i] = netns(t, fmt.Sprint(i))
		body := fmt.Sprintf(`log_format: json
log_level: info
playbooks: [%s]
store:
  etcd:
    endpoints: [%s]
    prefix: %s
actions:
  firewall: { enabled: true, netns: %s }
`, pbDir, strings.Join(etcd.clients, ", "), prefix, nss[i])
		reps[i] = startReplica(t, fmt.Sprintf("fb-%d", i), body)
	}
	everywhere := func(ip string) bool {
		for _, ns := range nss {
			if _, ok := blocked(t, ns)[ip]; !ok {
				return false
			}
		}
		return true
	}
	nowhere := func(ip string) bool {
		for _, ns := range nss {
			if _, ok := blocked(t, ns)[ip]; ok {
				return false
			}
		}
		return true
	}

	// A block on fb-0 and one on fb-1 reach every host, with the recorded
	// expiry.
	const ip1, ip2 = "203.0.113.7", "198.51.100.9"
	ipAlert(t, reps[0], "BlockIP", ip1)
	ipAlert(t, reps[1], "BlockIP", ip2)
	waitFor(t, 15*time.Second, ip1+" blocked in fb-0's namespace", func() bool { _, ok := blocked(t, nss[0])[ip1]; return ok })
	waitFor(t, 15*time.Second, "both blocked in every namespace", func() bool { return everywhere(ip1) && everywhere(ip2) })
	recs := recordedBlocks(t, cli, prefix)
	rec, rec2 := recs[ip1], recs[ip2]
	if rec.IsZero() || rec2.IsZero() {
		t.Fatalf("the cluster's list of blocks: %v, want %s and %s", recs, ip1, ip2)
	}
	for i, ns := range nss {
		exp := blocked(t, ns)[ip1]
		if d := exp.Sub(rec).Abs(); d > 1500*time.Millisecond {
			t.Errorf("fb-%d's kernel drops %s at %s, %s away from the recorded expiry %s", i, ip1, exp.Format(time.StampMilli), d, rec.Format(time.StampMilli))
		}
	}

	// An unblock on fb-2 of what fb-1 blocked lifts it everywhere.
	ipAlert(t, reps[2], "UnblockIP", ip2)
	waitFor(t, 15*time.Second, ip2+" gone from the cluster's list", func() bool { _, ok := recordedBlocks(t, cli, prefix)[ip2]; return !ok })
	// Lifted by the reconciliation, not by its ttl running out.
	if d := time.Until(rec2) - 2*time.Second; d < 11*time.Second {
		t.Fatalf("only %s left of %s's ttl to see it lifted: the test is too slow", d, ip2)
	}
	waitFor(t, 11*time.Second, ip2+" lifted in every namespace before its ttl", func() bool { return nowhere(ip2) })
	for i, ns := range nss {
		if _, ok := blocked(t, ns)[ip1]; !ok {
			t.Errorf("fb-%d lost %s with the unblock of %s", i, ip1, ip2)
		}
	}

	// ip1's ttl runs out at the same time on every host.
	if wait := time.Until(rec); wait > 0 {
		time.Sleep(wait) // the ttl is the kernel's; nothing to poll before it
	}
	waitFor(t, 2*time.Second, ip1+" expired in every namespace", func() bool { return nowhere(ip1) })
	waitFor(t, 15*time.Second, ip1+" forgotten by the cluster", func() bool { _, ok := recordedBlocks(t, cli, prefix)[ip1]; return !ok })
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}
