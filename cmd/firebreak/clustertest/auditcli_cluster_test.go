package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
)

const auditPlaybook = `
name: notify
match: event.source == "alertmanager" && event.status == "firing" && event.name == "Storm"
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%s/notify"
      body: { group: "{{ event.labels.group }}" }
`

// cli runs the firebreak binary with args and returns its exit code,
// stdout and stderr; it gives up after 60 s.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, firebreakBin(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("firebreak %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// TestClusterAuditCLI: after traffic through three replica processes (60
// alerts, 20 to each, sent concurrently), `firebreak audit list|show|
// verify|export --config` with the replicas' own clustered configuration
// read the one trail in etcd while the replicas run: verify passes, the
// export holds as many records as list's pages, every line's SHA-256 is
// the next record's prev (one chain across the replicas), every event
// was received once and show prints its timeline. About 10 s.
func TestClusterAuditCLI(t *testing.T) {
	start := time.Now()
	etcd := startEtcd(t)
	c := &capture{groups: map[string]int{}}
	capSrv := httptest.NewServer(c)
	t.Cleanup(capSrv.Close)
	pbDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pbDir, "pb.yaml"), []byte(fmt.Sprintf(auditPlaybook, capSrv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	const prefix = "/fb-audit-cli"
	body := clusterConfig(etcd.clients, prefix, pbDir, "")
	reps := make([]*replica, 3)
	for i := range reps {
		reps[i] = startReplica(t, fmt.Sprintf("fb-%d", i), body)
	}
	const alerts = 60
	var wg sync.WaitGroup
	errs := make(chan error, alerts)
	for i := range alerts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := amBody(fmt.Sprintf("fp-%02d", i), fmt.Sprintf("g%02d", i), time.Now().Add(-time.Minute))
			resp, err := http.Post(reps[i%3].url+"/hooks/alertmanager", "application/json", bytes.NewReader(b))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				errs <- fmt.Errorf("alert %d to %s = %d", i, reps[i%3].name, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every alert to reach the receiver", func() bool { return c.total.Load() >= alerts })
	cliCli := etcd.client(t)
	waitFor(t, 20*time.Second, "no unfinished event", func() bool {
		n, err := pendingCount(context.Background(), cliCli, prefix)
		return err == nil && n == 0
	})

	// The CLI reads the same file the replicas run with (its listen and
	// node are not used: the CLI opens the store under a name of its own).
	cfg := filepath.Join(t.TempDir(), "firebreak.yaml")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:1\ndata_dir: "+filepath.Join(t.TempDir(), "data")+"\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cli(t, "audit", "verify", "--config", cfg)
	if code != 0 {
		t.Fatalf("audit verify = %d:\n%s%s", code, out, errOut)
	}
	t.Logf("audit verify: %s", strings.TrimSpace(out))

	var listed []audit.Record
	cursor := "0"
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("audit list: more than 20 pages of 100")
		}
		code, out, errOut := cli(t, "audit", "list", "--config", cfg, "--json", "--limit", "100", "--cursor", cursor)
		if code != 0 {
			t.Fatalf("audit list = %d: %s", code, errOut)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r audit.Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("audit list line %q: %v", line, err)
			}
			listed = append(listed, r)
		}
		_, next, more := strings.Cut(strings.TrimSpace(errOut), "more records: repeat with --cursor ")
		if !more {
			break
		}
		cursor = strings.TrimSpace(next)
	}

	code, out, errOut = cli(t, "audit", "export", "--config", cfg, "--since", "24h", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("audit export = %d: %s", code, errOut)
	}
	var exported []audit.Record
	var prevSum string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var r audit.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		if prevSum != "" && r.Prev != prevSum {
			t.Errorf("record %d: prev %s, but the line before hashes to %s", r.Seq, r.Prev, prevSum)
		}
		sum := sha256.Sum256(line)
		prevSum = hex.EncodeToString(sum[:])
		exported = append(exported, r)
	}
	if len(exported) != len(listed) {
		t.Errorf("export has %d records, list %d", len(exported), len(listed))
	}
	if want := fmt.Sprintf("exported %d records", len(exported)); !strings.Contains(errOut, want) {
		t.Errorf("export said %q, want %q", errOut, want)
	}
	received := map[string]int{}
	var one string
	for i, r := range listed {
		if i > 0 && r.Seq != listed[i-1].Seq+1 {
			t.Errorf("list: record %d follows %d", r.Seq, listed[i-1].Seq)
		}
		if i < len(exported) && exported[i].Seq != r.Seq {
			t.Errorf("record %d of the export is seq %d, of the list %d", i, exported[i].Seq, r.Seq)
		}
		if r.Kind == audit.KindReceived {
			received[r.EventID]++
			one = r.EventID
		}
	}
	if len(received) != alerts {
		t.Errorf("%d events received in the trail, want %d", len(received), alerts)
	}
	for id, n := range received {
		if n != 1 {
			t.Errorf("event %s received %d times", id, n)
		}
	}

	code, out, errOut = cli(t, "audit", "show", one, "--config", cfg)
	if code != 0 || !strings.Contains(out, one) || !strings.Contains(out, "webhook.notify") {
		t.Errorf("audit show %s = %d:\n%s%s", one, code, out, errOut)
	}
	t.Logf("%d records listed and exported; took %s", len(listed), time.Since(start).Round(time.Millisecond))
}
