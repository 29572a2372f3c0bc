package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/store"
)

// sigkillChildEnv, when set, makes TestSigkillChild run `firebreak serve`
// with the arguments in it (newline-separated): the parent's re-exec of this
// test binary is a real firebreak process it can SIGKILL.
const sigkillChildEnv = "FIREBREAK_SIGKILL_CHILD"

// TestSigkillChild is the child side of TestSigkillMidLoadLosesNothing; it
// does nothing in a normal run.
func TestSigkillChild(t *testing.T) {
	args := os.Getenv(sigkillChildEnv)
	if args == "" {
		t.Skip("the child of TestSigkillMidLoadLosesNothing")
	}
	os.Exit(run(strings.Split(args, "\n"), os.Stdout, os.Stderr))
}

// TestSigkillMidLoadLosesNothing kills a real firebreak process (this test
// binary re-executed as `firebreak serve`, durable store) with SIGKILL
// while 16 clients post unique Falco events, restarts it on the same data
// directory, and checks that every event a 202 acknowledged is in the
// inbox exactly once, that re-sending them is answered as duplicates (the
// idempotency keys were durable with the events), and that the restarted
// engine works the backlog off. It takes a few seconds: about one second
// of load, the restart and the drain.
func TestSigkillMidLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills two server processes")
	}
	// Both ways to durability: the file's commit, and the write-ahead log
	// (whose records the restart moves into the file).
	t.Run("file", func(t *testing.T) { sigkillMidLoad(t, false) })
	t.Run("write-ahead-log", func(t *testing.T) { sigkillMidLoad(t, true) })
}

func sigkillMidLoad(t *testing.T, wal bool) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.MkdirAll(pbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A shadow playbook matching every event: each event is matched,
	// planned and audited, so the engine writes while ingest does.
	pb := "name: shadow-all\ndescription: match everything\nmatch: \"true\"\nmode: shadow\nsteps:\n  - action: webhook.notify\n    with: { url: \"http://127.0.0.1:9/none\" }\n"
	if err := os.WriteFile(filepath.Join(pbDir, "shadow.yaml"), []byte(pb), 0o600); err != nil {
		t.Fatal(err)
	}

	start := func(name string) (*exec.Cmd, string) {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cfgPath := filepath.Join(dir, name+".yaml")
		cfg := fmt.Sprintf("listen: %s\ndata_dir: %s\nlog_level: warn\n", addr, dataDir)
		if wal {
			cfg += "store:\n  write_ahead_log: true\n"
		}
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd := exec.Command(os.Args[0], "-test.run", "^TestSigkillChild$")
		cmd.Env = append(os.Environ(), sigkillChildEnv+"="+strings.Join([]string{"serve", "--config", cfgPath, "--playbooks", pbDir}, "\n"))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		base := "http://" + addr
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get(base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return cmd, base
				}
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
				t.Fatalf("%s not ready within 20s: %v\n%s", name, err, log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	post := func(base, uuid string) (accepted, duplicates int, err error) {
		body := fmt.Sprintf(`{"uuid":%q,"output":"Notice outbound connection","priority":"Notice","rule":"Unexpected outbound connection destination","time":%q,"output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"cart-api-1","proc.name":"curl"},"source":"syscall","hostname":"worker-07"}`,
			uuid, time.Now().UTC().Format(time.RFC3339Nano))
		resp, err := client.Post(base+"/hooks/falco", "application/json", strings.NewReader(body))
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, 0, err
		}
		if resp.StatusCode != http.StatusAccepted {
			return 0, 0, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
		}
		var ack struct{ Accepted, Duplicates int }
		if err := json.Unmarshal(raw, &ack); err != nil {
			return 0, 0, fmt.Errorf("answer %q: %w", raw, err)
		}
		return ack.Accepted, ack.Duplicates, nil
	}

	first, base := start("first")
	var (
		mu     sync.Mutex
		acked  []string // uuids whose 202 said accepted
		next   atomic.Int64
		failed atomic.Int64 // requests cut off by the kill
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				uuid := fmt.Sprintf("5e1f0000-0000-4000-8000-%012d", next.Add(1))
				acc, _, err := post(base, uuid)
				if err != nil {
					failed.Add(1)
					continue
				}
				if acc != 1 {
					t.Errorf("a new event was answered accepted=%d", acc)
				}
				mu.Lock()
				acked = append(acked, uuid)
				mu.Unlock()
			}
		}()
	}
	// Kill once enough was acknowledged, while the clients keep posting
	// and the engine is working off the inbox.
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 1500 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	close(stop)
	wg.Wait()
	mu.Lock()
	ackedAtKill := append([]string(nil), acked...)
	mu.Unlock()
	if len(ackedAtKill) < 100 {
		t.Fatalf("only %d events were acknowledged before the kill", len(ackedAtKill))
	}
	t.Logf("%d events acknowledged, %d requests cut off by the kill, %d posted", len(ackedAtKill), failed.Load(), next.Load())

	second, base2 := start("second")
	// Re-sending what was acknowledged is answered as duplicates.
	resend := ackedAtKill[:min(200, len(ackedAtKill))]
	for _, uuid := range resend {
		acc, dup, err := post(base2, uuid)
		if err != nil {
			t.Fatal(err)
		}
		if acc != 0 || dup != 1 {
			t.Fatalf("re-sent acknowledged event %s: accepted=%d duplicates=%d, want a duplicate", uuid, acc, dup)
		}
	}
	// The restarted engine works off the backlog the kill left.
	drainBy := time.Now().Add(20 * time.Second)
	for {
		p, err := pendingEvents(base2)
		if err != nil {
			t.Fatal(err)
		}
		if p == 0 {
			break
		}
		if time.Now().After(drainBy) {
			t.Fatalf("%v events still pending 20s after the restart", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "second.log"))
		t.Fatalf("the restarted server did not stop cleanly: %v\n%s", err, log)
	}

	if segs, _ := filepath.Glob(filepath.Join(dataDir, "firebreak.db.wal", "*.log")); wal && len(segs) == 0 {
		t.Fatal("store.write_ahead_log was on, and the data directory has no log segments")
	} else if !wal && len(segs) > 0 {
		t.Fatalf("store.write_ahead_log was off, and the data directory has log segments %v", segs)
	}
	// Every acknowledged event is in the inbox exactly once.
	files, _ := filepath.Glob(filepath.Join(dataDir, "*.db"))
	if len(files) != 1 {
		t.Fatalf("data files %v, want one", files)
	}
	db, err := store.Open(files[0], store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := map[string]int{}
	err = db.EventsSince(context.Background(), 0, func(_ uint64, ev event.Event) error {
		count[strings.TrimPrefix(ev.ID, "falco:")]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, uuid := range ackedAtKill {
		if c := count[uuid]; c != 1 {
			t.Errorf("acknowledged event %s is stored %d times, want once", uuid, c)
		}
	}
	for uuid, c := range count {
		if c != 1 {
			t.Errorf("event %s is stored %d times", uuid, c)
		}
	}
	// And every acknowledged event's decisions are in the trail exactly
	// once, whether the kill caught it before, while or after it was
	// processed: received, matched, the shadow step's dry run — none
	// lost, none written twice by the restarted engine.
	want := []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepDryRun}
	for _, uuid := range ackedAtKill {
		recs, _, err := db.ListAudit(context.Background(), audit.Query{EventID: "falco:" + uuid, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []audit.Kind
		for _, r := range recs {
			got = append(got, r.Kind)
		}
		if !slices.Equal(got, want) {
			t.Errorf("acknowledged event %s has records %q, want %q", uuid, got, want)
		}
	}
	if _, err := db.VerifyAudit(context.Background()); err != nil {
		t.Errorf("the audit trail does not verify after the kill: %v", err)
	}
}

// pendingEvents reads firebreak_inbox_pending_events from /metrics.
func pendingEvents(base string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "firebreak_inbox_pending_events "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				return 0, fmt.Errorf("metric line %q: %w", line, err)
			}
			return f, nil
		}
	}
	return 0, fmt.Errorf("no firebreak_inbox_pending_events in /metrics")
}
