package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

// TestForgetEventDropsOnlyThatEventsState checks the engine's retention
// hook against a real bbolt store: the event's marker (beside its step
// claims, or in the events bucket of a file written before the marker
// moved) and step claims go, another event's (even one whose id starts
// the same) stay.
func TestForgetEventDropsOnlyThatEventsState(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "f.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	keys := map[string][]string{
		"events": {"am:1", "am:10"},
		"steps":  {"am:1|", "am:1|pb|steps|0", "am:1|pb|on_resolved|0", "am:10|", "am:10|pb|steps|0"},
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
				if want := k == "am:10" || strings.HasPrefix(k, "am:10|"); kept != want {
					t.Errorf("%s/%s kept = %v, want %v", b, k, kept, want)
				}
			}
		}
		return nil
	})
}

// TestSweepForgottenDropsMarksOfForgottenEvents: an on_resolved mark goes
// once retention has forgotten the firing event it names, and only then.
func TestSweepForgottenDropsMarksOfForgottenEvents(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "f.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	marks := map[string]string{
		"restart|fp1": `{"event_id":"am:1","seq":1}`,
		"notify|fp1":  `{"event_id":"am:1","seq":1}`,
		"restart|fp2": `{"event_id":"am:2","seq":2}`,
		"odd|fp3":     `not json`,
	}
	err = db.Update(ctx, func(tx state.Tx) error {
		// am:1's marker as files written before the marker moved hold
		// it, am:2's as the engine writes it now.
		if err := tx.Put("events", "am:1", []byte("matched")); err != nil {
			return err
		}
		if err := tx.Put("steps", "am:2|", []byte("matched")); err != nil {
			return err
		}
		for k, v := range marks {
			if err := tx.Put("triggered", k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sweep := func() int {
		var n int
		if err := db.Update(ctx, func(tx state.Tx) error {
			var err error
			n, err = engine.SweepForgotten(tx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sweep(); n != 0 {
		t.Fatalf("swept %d marks while every event is known, want 0", n)
	}
	if err := db.Update(ctx, func(tx state.Tx) error { return engine.ForgetEvent(tx, "am:1") }); err != nil {
		t.Fatal(err)
	}
	if n := sweep(); n != 2 {
		t.Fatalf("swept %d marks after forgetting am:1, want 2", n)
	}
	_ = db.View(ctx, func(tx state.Tx) error {
		for k := range marks {
			kept := tx.Get("triggered", k) != nil
			if want := k == "restart|fp2" || k == "odd|fp3"; kept != want {
				t.Errorf("mark %s kept = %v, want %v", k, kept, want)
			}
		}
		return nil
	})
}
