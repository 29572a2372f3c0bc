// Package gctune sets the Go garbage collector of a long-running server
// process (firebreak serve) for less CPU per event at a bounded heap.
//
// Go's default (GOGC=100, no memory limit) collects whenever the heap has
// grown by the live heap since the last collection. Firebreak's live heap
// is small (a few MiB to a few tens) and its allocation rate under load is
// high, so it collects very often. Start lets the heap grow to three
// times the live heap (GC percent 200) but no further than a soft limit,
// Floor, so a load peak does not raise the process's memory by half: the
// runtime collects earlier, and returns memory, to stay under it.
//
// The limit never holds the heap below what the default would allow: it
// is kept at least Headroom times the live heap (measured every Interval),
// so a large live heap (many playbooks, a long approval queue) gets at
// least the default's room and never makes the collector run harder than
// it would without this package. An operator who sets GOGC or GOMEMLIMIT
// in the environment keeps exactly what they set.
package gctune

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	// Percent is the GC percent Start sets: collect when the heap has
	// grown by twice the live heap.
	Percent = 200
	// Floor is the least soft memory limit Start sets, in bytes.
	Floor = 48 << 20
	// Headroom is how many times the live heap the limit is kept above;
	// the default (GOGC=100) lets the heap reach twice the live heap, and
	// the rest covers stacks and the runtime's own metadata.
	Headroom = 2.5
)

// Interval is how often the limit follows the live heap (a variable for
// the tests).
var Interval = 2 * time.Second

// Limit is the soft memory limit for a live heap of live bytes.
func Limit(live uint64) int64 {
	return max(int64(Floor), int64(float64(live)*Headroom))
}

// Start applies Percent and a soft limit of Limit(live heap), unless the
// environment sets GOGC or GOMEMLIMIT, and keeps the limit following the
// live heap until stop is called. It reports whether it took over; stop
// ends the follower and waits for it.
func Start(log *slog.Logger) (tuned bool, stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.Debug("garbage collector left as the environment sets it", "GOGC", os.Getenv("GOGC"), "GOMEMLIMIT", os.Getenv("GOMEMLIMIT"))
		return false, func() {}
	}
	debug.SetMemoryLimit(Limit(liveHeap()))
	debug.SetGCPercent(Percent)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				debug.SetMemoryLimit(Limit(liveHeap()))
			}
		}
	}()
	return true, func() { cancel(); <-done }
}

// liveHeap is the heap the last collection marked live, in bytes (0
// before the first collection).
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
