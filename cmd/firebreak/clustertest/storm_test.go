package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine/audit"
)

const stormPlaybook = `
name: storm
match: event.source == "alertmanager" && event.status == "firing" && event.name == "Storm"
dedupe: { key: 'event.labels.group', window: 1h }
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%s/hook"
      body: { group: "{{ event.labels.group }}" }
`

// capture is the receiver of webhook.notify: it counts calls per group.
type capture struct {
	mu     sync.Mutex
	groups map[string]int
	total  atomic.Int64
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Group string `json:"group"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	c.mu.Lock()
	c.groups[body.Group]++
	c.mu.Unlock()
	c.total.Add(1)
	w.WriteHeader(http.StatusOK)
}

func amBody(fp, group string, startsAt time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "firebreak", "groupKey": "{}:{}",
		"alerts": []map[string]any{{
			"status": "firing", "fingerprint": fp,
			"labels":   map[string]string{"alertname": "Storm", "group": group, "severity": "critical"},
			"startsAt": startsAt.UTC().Format(time.RFC3339Nano),
		}},
	})
	return b
}

// TestClusterStorm is issue 15's storm: 6,000 distinct Alertmanager alerts
// (600 under -short) from 32 senders spread over three replicas, one dedupe
// key per 100 alerts; during it one replica is killed with SIGKILL at a
// random moment and one etcd member is stopped and then restarted. After:
// every acknowledged (2xx) alert is in the audit trail exactly once, each
// dedupe key acted exactly once at the capture receiver, no step succeeded
// twice, and the trail verifies.
func TestClusterStorm(t *testing.T) {
	total := 6000
	if testing.Short() {
		total = 600
	}
	const senders, perGroup = 32, 100
	start := time.Now()
	etcd := startEtcd(t)
	cap := &capture{groups: map[string]int{}}
	capSrv := httptest.NewServer(cap)
	defer capSrv.Close()
	pbDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pbDir, "storm.yaml"), []byte(fmt.Sprintf(stormPlaybook, capSrv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	const prefix = "/fb-storm"
	body := clusterConfig(etcd.clients, prefix, pbDir, "workers: 16\n")
	reps := make([]*replica, 3)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Add(1)
		go func() { defer wg.Done(); reps[i] = startReplica(t, fmt.Sprintf("fb-%d", i), body) }()
	}
	wg.Wait()
	for _, r := range reps {
		if r == nil {
			t.FailNow()
		}
	}
	t.Logf("etcd and 3 replicas up in %s", time.Since(start).Round(time.Millisecond))

	victim := rand.IntN(3)
	killAt := int64(total/5 + rand.IntN(total*2/5)) // between 20% and 60% of the sends
	var sent, acked atomic.Int64
	var ackMu sync.Mutex
	ackedFP := map[string]bool{}
	client := &http.Client{Timeout: 10 * time.Second}
	t0 := time.Now().Add(-time.Minute)
	// The faults, each at its own point of progress, independently (a
	// stopping etcd member takes a while to close).
	var faults sync.WaitGroup
	at := func(n int64, fn func(int64)) {
		faults.Add(1)
		go func() {
			defer faults.Done()
			for sent.Load() < n {
				time.Sleep(time.Millisecond)
			}
			fn(sent.Load())
		}()
	}
	at(killAt, func(n int64) {
		reps[victim].Kill()
		t.Logf("killed %s (SIGKILL) after %d sends", reps[victim].name, n)
	})
	at(int64(total*2/5), func(n int64) {
		etcd.Stop(2)
		t.Logf("stopped etcd member m2 after %d sends", n)
		for sent.Load() < int64(total*4/5) {
			time.Sleep(time.Millisecond)
		}
		etcd.Restart(2)
		t.Logf("restarted etcd member m2 after %d sends", sent.Load())
	})
	sendStart := time.Now()
	var failures atomic.Int64
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < total; i += senders {
				fp := fmt.Sprintf("fp%05d", i)
				b := amBody(fp, fmt.Sprintf("g%03d", i/perGroup), t0)
				sent.Add(1)
				// A sender retries a refused or unanswered request on the
				// next replica, as Alertmanager with three webhook URLs
				// (or a load balancer) does.
				deadline := time.Now().Add(60 * time.Second)
				for attempt := 0; time.Now().Before(deadline); attempt++ {
					r := reps[(i+attempt)%3]
					resp, err := client.Post(r.url+"/hooks/alertmanager", "application/json", bytes.NewReader(b))
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode/100 == 2 {
							ackMu.Lock()
							ackedFP[fp] = true
							ackMu.Unlock()
							acked.Add(1)
							break
						}
					}
					failures.Add(1)
					time.Sleep(time.Duration(20*(attempt%5+1)) * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	sendTime := time.Since(sendStart)
	faults.Wait()
	t.Logf("sent %d alerts, %d acknowledged, %d refused or failed attempts, in %s (%.0f alerts/s)",
		total, acked.Load(), failures.Load(), sendTime.Round(time.Millisecond), float64(total)/sendTime.Seconds())
	if acked.Load() != int64(total) {
		t.Errorf("acknowledged %d of %d alerts: a sender gave up", acked.Load(), total)
	}

	// Every accepted event is processed: the survivors take over the
	// killed replica's events once its session expires.
	cli := etcd.client(t)
	ctx := context.Background()
	drainStart, lastLog := time.Now(), time.Now()
	waitFor(t, 5*time.Minute, "the inbox to drain", func() bool {
		n, err := pendingCount(ctx, cli, prefix)
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			t.Logf("%d events pending %s after the last send", n, time.Since(drainStart).Round(time.Second))
		}
		return err == nil && n == 0
	})
	t.Logf("inbox drained %s after the last send", (time.Since(sendStart) - sendTime).Round(time.Millisecond))
	for i, r := range reps {
		if i != victim {
			r.Stop()
		}
	}

	// The CLI reads the cluster with the servers' configuration.
	cfgPath := filepath.Join(t.TempDir(), "firebreak.yaml")
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(firebreakBin(t), "audit", "verify", "--config", cfgPath).CombinedOutput()
	if err != nil {
		t.Errorf("firebreak audit verify --config: %v\n%s", err, out)
	}
	t.Logf("firebreak audit verify --config: %s", bytes.TrimSpace(out))
	out, err = exec.Command(firebreakBin(t), "audit", "list", "--config", cfgPath, "--kind", "step.succeeded", "--limit", "1000", "--json").CombinedOutput()
	if err != nil {
		t.Errorf("firebreak audit list --config: %v\n%s", err, out)
	}
	listed := bytes.Count(out, []byte(`"kind":"step.succeeded"`))

	// Read the one trail with the etcd store itself.
	e := &config.Etcd{Endpoints: etcd.clients, Prefix: prefix}
	st, err := app.OpenEtcd(ctx, *e, "verifier", time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("audit verify: %v", err)
	}
	received := map[string]int{}
	succeeded := map[string]int{}
	interrupted := map[string]int{}
	q := audit.Query{Limit: 5000}
	for {
		recs, next, err := st.ListAudit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			fp := ""
			if parts := strings.Split(r.EventID, ":"); len(parts) > 1 {
				fp = parts[1]
			}
			switch r.Kind {
			case audit.KindReceived:
				received[fp]++
			case audit.KindStepSucceeded:
				succeeded[fmt.Sprintf("%s/%s/%d", r.EventID, r.Playbook, *r.Step)]++
			case audit.KindInterrupted:
				interrupted[groupOf(fp)]++
			}
		}
		if next == 0 {
			break
		}
		q.After = next
	}
	t.Logf("audit trail: %d records verified; %d events received, %d steps succeeded, %d interrupted", n, len(received), len(succeeded), len(interrupted))
	for fp := range ackedFP {
		if received[fp] != 1 {
			t.Errorf("acknowledged alert %s: %d event.received records, want exactly 1", fp, received[fp])
		}
	}
	for fp, c := range received {
		if c != 1 {
			t.Errorf("alert %s: %d event.received records", fp, c)
		}
	}
	for k, c := range succeeded {
		if c != 1 {
			t.Errorf("step %s succeeded %d times", k, c)
		}
	}
	cap.mu.Lock()
	defer cap.mu.Unlock()
	for g := range total / perGroup {
		name := fmt.Sprintf("g%03d", g)
		switch c := cap.groups[name]; {
		case c == 1:
		case c == 0 && interrupted[name] > 0:
			// At most once: the killed replica had started the group's
			// step; it is recorded interrupted and not run again.
			t.Logf("dedupe key %s: its step was interrupted by the kill and not run again", name)
		default:
			t.Errorf("dedupe key %s acted %d times at the receiver, want exactly 1", name, c)
		}
	}
	// Each group's step succeeded once, unless the kill interrupted it:
	// then it may or may not have reached the receiver, and is not retried.
	interruptedGroups := 0
	for g := range total / perGroup {
		if interrupted[fmt.Sprintf("g%03d", g)] > 0 {
			interruptedGroups++
		}
	}
	if got, want := len(succeeded), total/perGroup-interruptedGroups; got != want {
		t.Errorf("%d steps succeeded, want %d (%d groups, %d interrupted)", got, want, total/perGroup, interruptedGroups)
	}
	if listed != len(succeeded) {
		t.Errorf("firebreak audit list --config --kind step.succeeded listed %d records, the store holds %d:\n%.2000s", listed, len(succeeded), out)
	}
	if calls := int(cap.total.Load()); calls < len(succeeded) || calls > len(succeeded)+interruptedGroups {
		t.Errorf("%d calls at the receiver for %d step.succeeded records and %d interrupted groups", calls, len(succeeded), interruptedGroups)
	}
	t.Logf("storm test took %s", time.Since(start).Round(time.Millisecond))
}

func groupOf(fp string) string {
	var i int
	if _, err := fmt.Sscanf(fp, "fp%05d", &i); err != nil {
		return ""
	}
	return fmt.Sprintf("g%03d", i/100)
}
