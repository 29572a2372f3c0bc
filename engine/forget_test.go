package engine_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

// TestForgetEventDropsOnlyThatEventsState checks the engine's retention
// hook against a real bbolt store: the event's marker and step claims go,
// another event's (even one whose id starts the same) stay.
func TestForgetEventDropsOnlyThatEventsState(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "f.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	keys := map[string][]string{
		"events": {"am:1", "am:10"},
		"steps":  {"am:1|pb|steps|0", "am:1|pb|on_resolved|0", "am:10|pb|steps|0"},
	}
	err = db.Update(ctx, func(tx state.Tx) error {
		for b, ks := range keys {
			for _, k := range ks {
				if err := tx.Put(b, k, []byte("x")); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx state.Tx) error { return engine.ForgetEvent(tx, "am:1") }); err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx state.Tx) error {
		for b, ks := range keys {
			for _, k := range ks {
				kept := tx.Get(b, k) != nil
				if want := k == "am:10" || k == "am:10|pb|steps|0"; kept != want {
					t.Errorf("%s/%s kept = %v, want %v", b, k, kept, want)
				}
			}
		}
		return nil
	})
}
