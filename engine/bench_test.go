package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/internal/loadid"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

// BenchmarkEngine measures the engine alone: b.N events already in the
// inbox are processed by a running engine (Run, default workers) against
// one playbook that matches every event and has one webhook.notify step
// to a local receiver, in shadow mode (planned, guarded-free, dry-run and
// audited) and executing (the receiver is called); and, as most alerts a
// server receives are, unmatched (the playbook's rule is false for every
// event: received, matched against it, audited). The store is a real
// bbolt file, durable (fsync per commit) or not; logging is a JSON handler
// at info, the audit redactor is the default one — as the server runs.
//
// Besides ns/op (wall time per event) it reports events/s, CPU µs/event
// (user+system of the whole process), bytes written per event (write
// syscalls, /proc/self/io wchar), file growth per event, bbolt commits
// per event (the store's group commits; fewer is better), and what stays
// on disk per event once retention removed the inbox entries: B-kept (the
// bytes the buckets hold) and B-pages-kept (pages in use below the file's
// high-water mark). FIREBREAK_BENCH_SPACE=1 logs the bytes per bucket.
//
//	go test -run '^$' -bench BenchmarkEngine -benchtime 2000x ./engine/
func BenchmarkEngine(b *testing.B) {
	for _, mode := range []string{"shadow", "execute", "unmatched"} {
		for _, durable := range []bool{false, true} {
			name := mode + "/nosync"
			if durable {
				name = mode + "/fsync"
			}
			b.Run(name, func(b *testing.B) { benchEngine(b, mode, durable) })
		}
	}
}

func benchEngine(b *testing.B, mode string, durable bool) {
	ctx := context.Background()
	var hits atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	path := filepath.Join(b.TempDir(), "bench.db")
	var clock atomic.Int64 // store time, moved past the inbox's age at the end
	clock.Store(time.Now().UnixNano())
	db, err := store.Open(path, store.Options{NoSync: !durable, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	red, err := audit.NewRedactor(audit.RedactConfig{})
	if err != nil {
		b.Fatal(err)
	}
	db.SetRedactor(red.Record)

	reg := actions.NewRegistry()
	if err := reg.Register(webhook.New(webhook.Config{})); err != nil {
		b.Fatal(err)
	}
	matchName := "BenchAlert"
	if mode == "unmatched" {
		matchName = "NeverSent" // no benchmark event has this name
	}
	pb := fmt.Sprintf(`
name: bench
description: notify for every benchmark event
mode: %s
match: event.name == "%s" && event.labels.namespace != "kube-system"
steps:
  - action: webhook.notify
    with:
      url: %s/hook
      body: { alert: "{{ event.name }}", namespace: "{{ event.labels.namespace }}" }
`, map[string]string{"shadow": "shadow", "execute": "auto", "unmatched": "auto"}[mode], matchName, recv.URL)
	set, err := playbooks.Parse(reg, "bench.yaml", []byte(pb))
	if err != nil {
		b.Fatal(err)
	}

	// Fill the inbox before the clock starts.
	now := time.Now()
	const batch = 500
	for i := 0; i < b.N; i += batch {
		evs := make([]event.Event, 0, batch)
		for j := i; j < min(i+batch, b.N); j++ {
			// A fingerprint is a hash: scattered, as a real one is, so
			// the ids do not arrive in key order.
			fp := fmt.Sprintf("%016x", loadid.Scatter(uint64(j), 64))
			id := "am:" + fp
			evs = append(evs, event.Event{
				ID: id, Source: "alertmanager", Name: "BenchAlert", Status: event.StatusFiring, Severity: "critical",
				Fingerprint: fp,
				Labels:      map[string]string{"alertname": "BenchAlert", "namespace": "shop", "pod": "cart-" + strconv.Itoa(j), "severity": "critical"},
				Annotations: map[string]string{"summary": "cart is on fire", "runbook_url": "https://runbooks.example/cart"},
				StartsAt:    now, ReceivedAt: now,
			})
		}
		if _, err := db.AppendEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}

	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	eng := engine.New(engine.Config{Store: db, Registry: reg, Logger: log})
	eng.SetPlaybooks(set)

	commits0, _ := db.CommitStats()
	size0 := fileSize(b, path)
	wchar0 := wchar(b)
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()
	for eng.Processed() < uint64(b.N) {
		time.Sleep(200 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	written := wchar(b) - wchar0
	commits, _ := db.CommitStats()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if mode == "execute" && hits.Load() != int64(b.N) {
		b.Fatalf("the receiver got %d calls for %d events", hits.Load(), b.N)
	}
	if mode != "execute" && hits.Load() != 0 {
		b.Fatalf("%s mode called the receiver %d times", mode, hits.Load())
	}
	n := float64(b.N)
	// What stays on disk per event once retention removed the inbox
	// entries (issue 18 target 3): the bytes the buckets hold, and the
	// high-water mark of the file's pages (the preallocated margin
	// beyond it is not counted).
	clock.Add(int64(2 * time.Hour))
	if _, err := db.Compact(ctx, store.Retention{InboxMaxAge: time.Hour, ForgetEvent: engine.ForgetEvent, Sweep: engine.SweepForgotten}); err != nil {
		b.Fatal(err)
	}
	sp, err := db.Space(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(sp.InUse)/n, "B-kept/event")
	b.ReportMetric(float64(sp.HighWater-sp.Free)/n, "B-pages-kept/event")
	if os.Getenv("FIREBREAK_BENCH_SPACE") != "" {
		b.Logf("space after retention: %+v", sp)
	}
	b.ReportMetric(n/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/event")
	b.ReportMetric(float64(written)/n, "B-written/event")
	b.ReportMetric(float64(fileSize(b, path)-size0)/n, "B-growth/event")
	b.ReportMetric(float64(commits-commits0)/n, "commits/event")
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wchar is the bytes the process passed to write calls so far
// (/proc/self/io); 0 where that file does not exist.
func wchar(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	return 0
}

func fileSize(b *testing.B, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}
