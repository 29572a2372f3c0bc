package store

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

// kindCounter is an AuditObserver that counts the records it is told of.
type kindCounter struct {
	mu    sync.Mutex
	kinds map[audit.Kind]int
}

func (k *kindCounter) AuditWritten(r audit.Record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kinds == nil {
		k.kinds = map[audit.Kind]int{}
	}
	k.kinds[r.Kind]++
}

func (k *kindCounter) counts() map[audit.Kind]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.kinds)
}

// TestAuditObserverSeesCommittedRecordsOnly: the observer is told of each
// record a committed transaction wrote, once, and of nothing a failed
// transaction wrote.
func TestAuditObserverSeesCommittedRecordsOnly(t *testing.T) {
	db, _ := openAuditTest(t)
	ctx := context.Background()
	obs := &kindCounter{}
	db.SetAuditObserver(obs)
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx state.Tx) error {
		if err := tx.Audit(audit.Record{Kind: audit.KindStepFailed, EventID: "rolled-back"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	err = db.Update(ctx, func(tx state.Tx) error {
		if err := tx.Audit(audit.Record{Kind: audit.KindReceived, EventID: "e"}); err != nil {
			return err
		}
		return tx.Audit(audit.Record{Kind: audit.KindMatched, EventID: "e"})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[audit.Kind]int{audit.KindReceived: 1, audit.KindMatched: 1}
	if got := obs.counts(); !maps.Equal(got, want) {
		t.Errorf("observer saw %v, want %v", got, want)
	}
}
