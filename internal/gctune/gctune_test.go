package gctune_test

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/firebreak/firebreak/internal/gctune"
)

// current reads the GC percent and the memory limit without changing them.
func current() (percent int, limit int64) {
	percent = debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1)
}

// restore puts the collector back as the test found it.
func restore(t *testing.T) {
	p, l := current()
	t.Cleanup(func() {
		debug.SetGCPercent(p)
		debug.SetMemoryLimit(l)
	})
}

func TestLimitNeverBelowTheDefaultsRoom(t *testing.T) {
	for _, live := range []uint64{0, 1 << 20, 19 << 20, 20 << 20, 64 << 20, 1 << 30} {
		got := gctune.Limit(live)
		if got < gctune.Floor {
			t.Errorf("Limit(%d) = %d, below the floor %d", live, got, gctune.Floor)
		}
		// GOGC=100 lets the heap reach twice the live heap: the limit must
		// leave at least that, or the collector would run harder than the
		// default.
		if got < int64(2*live) {
			t.Errorf("Limit(%d) = %d, below twice the live heap", live, got)
		}
	}
}

func TestStartLeavesTheEnvironmentsChoice(t *testing.T) {
	restore(t)
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv(env, "150") // what it says does not matter here: it is set
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1 << 40)
			tuned, stop := gctune.Start(slog.New(slog.DiscardHandler))
			stop()
			if tuned {
				t.Error("Start took over although the environment sets " + env)
			}
			if p, l := current(); p != 100 || l != 1<<40 {
				t.Errorf("after Start: GC percent %d, limit %d; want them untouched (100, %d)", p, l, int64(1<<40))
			}
		})
	}
}

// TestStartFollowsTheLiveHeap: the percent and the floor apply at once,
// and a live heap that outgrows the floor raises the limit with it.
func TestStartFollowsTheLiveHeap(t *testing.T) {
	restore(t)
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	old := gctune.Interval
	gctune.Interval = 10 * time.Millisecond
	t.Cleanup(func() { gctune.Interval = old })

	runtime.GC()
	tuned, stop := gctune.Start(slog.New(slog.DiscardHandler))
	defer stop()
	if !tuned {
		t.Fatal("Start did not take over with GOGC and GOMEMLIMIT unset")
	}
	p, l := current()
	if p != gctune.Percent {
		t.Errorf("GC percent = %d, want %d", p, gctune.Percent)
	}
	if l < gctune.Floor {
		t.Errorf("limit = %d, want at least the floor %d", l, gctune.Floor)
	}

	// Keep 40 MiB live: Headroom times that is above the floor.
	live := make([][]byte, 40)
	for i := range live {
		live[i] = make([]byte, 1<<20)
		live[i][0] = 1
	}
	runtime.GC()
	want := int64(float64(40<<20) * gctune.Headroom)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, l = current(); l >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("limit = %d with 40 MiB live, want it raised to at least %d", l, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(live)
}
