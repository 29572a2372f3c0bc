//go:build linux

package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// fileSizeLimit lowers this process's soft RLIMIT_FSIZE to n bytes and
// returns the function that restores it: a real "disk full" for writes
// that grow a file, while writes inside it still succeed. The kernel then
// fails such writes with EFBIG (Go ignores SIGXFSZ).
func fileSizeLimit(t *testing.T, n uint64) func() {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restore := func() {
		once.Do(func() {
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// TestReadyIsFalseWhileCommitsFail: with the file unable to grow (a full
// disk), storing an event fails; Ready must say so, although its own small
// probe still fits in the file. Once commits work again Ready is true.
// Without work arriving, Ready's probe decides again after readyHold.
func TestReadyIsFalseWhileCommitsFail(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	path := filepath.Join(t.TempDir(), "full.db")
	db, err := Open(path, Options{NoSync: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	small := func(id string) []event.Event {
		return []event.Event{{ID: id, Source: "am", Status: event.StatusFiring, ReceivedAt: clock()}}
	}
	if _, err := db.AppendEvents(ctx, small("a")); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("ready before the disk filled: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	big, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", 4<<20)})
	restore := fileSizeLimit(t, uint64(info.Size()))
	_, err = db.AppendEvents(ctx, []event.Event{{ID: "big", Source: "am", Status: event.StatusFiring, ReceivedAt: clock(), Raw: big}})
	if err == nil {
		restore()
		t.Fatal("storing 4 MiB in a file that cannot grow succeeded; the test cannot simulate a full disk here")
	}
	if err := db.Ready(ctx); !errors.Is(err, ErrCommitFailing) {
		t.Errorf("Ready on a full disk = %v, want ErrCommitFailing", err)
	}
	advance(readyHold / 2)
	if err := db.Ready(ctx); !errors.Is(err, ErrCommitFailing) {
		t.Errorf("Ready within the hold = %v, want ErrCommitFailing", err)
	}
	restore()
	if _, err := db.AppendEvents(ctx, small("b")); err != nil {
		t.Fatalf("storing once the disk has room: %v", err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Errorf("Ready after a commit of real work succeeded = %v, want nil", err)
	}

	// A failure with no work after it: the probe decides once the hold
	// has passed.
	restore = fileSizeLimit(t, uint64(mustSize(t, path)))
	if _, err := db.AppendEvents(ctx, []event.Event{{ID: "big2", Source: "am", Status: event.StatusFiring, ReceivedAt: clock(), Raw: big}}); err == nil {
		t.Fatal("the second full-disk write succeeded")
	}
	restore()
	if err := db.Ready(ctx); !errors.Is(err, ErrCommitFailing) {
		t.Errorf("Ready right after a failure = %v, want ErrCommitFailing", err)
	}
	advance(readyHold)
	if err := db.Ready(ctx); err != nil {
		t.Errorf("Ready after the hold with a writable store = %v, want nil", err)
	}
}

func mustSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// A request whose flush failed was answered with an error, so its sender
// retries it: the retry is stored at once, not refused as a duplicate of
// the failed delivery until the mover has passed the failed record.
func TestWALRetryAfterAFailedFlushIsStored(t *testing.T) {
	ctx := context.Background()
	db := openWALTest(t)
	// The mover stays behind: the failed record is still in its queue.
	release := holdMover(t, db)
	if _, err := db.AppendEvents(ctx, []event.Event{{ID: "first", Source: "am"}}); err != nil {
		t.Fatal(err)
	}
	// The next flush starts at the log's second block: past this limit.
	restore := fileSizeLimit(t, 4096)
	if _, err := db.AppendEvents(ctx, []event.Event{{ID: "retried", Source: "am"}}); err == nil {
		restore()
		t.Fatal("a flush past the file size limit succeeded; the test cannot make a flush fail here")
	}
	restore()
	seqs, err := db.AppendEvents(ctx, []event.Event{{ID: "retried", Source: "am"}})
	if err != nil || len(seqs) != 1 || seqs[0] == 0 {
		t.Fatalf("the retry after the failed flush: %v, %v; want it stored", seqs, err)
	}
	release()
	_, ev, err := db.EventByID(ctx, "retried")
	if err != nil || ev.ID != "retried" {
		t.Fatalf("the retried event after the move: %v, %v", ev.ID, err)
	}
}
