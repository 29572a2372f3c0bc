package store_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/store"
)

func TestSpace(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before, err := db.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]event.Event, 200)
	for i := range evs {
		evs[i] = event.Event{ID: "e" + strconv.Itoa(i), Source: "generic", Name: "n", ReceivedAt: time.Now(), Raw: []byte(`{"a":"` + strconv.Itoa(i) + `"}`)}
	}
	if _, err := db.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	after, err := db.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 200 events of some 100 bytes each, in the inbox, with their keys.
	if grew := after.Buckets["inbox"] - before.Buckets["inbox"]; grew < 200*50 {
		t.Errorf("inbox grew by %d bytes for 200 events", grew)
	}
	if after.Buckets["seen"] <= before.Buckets["seen"] {
		t.Errorf("seen did not grow: %d → %d", before.Buckets["seen"], after.Buckets["seen"])
	}
	var sum int64
	for _, n := range after.Buckets {
		sum += n
	}
	if sum != after.InUse || after.InUse > after.HighWater || after.HighWater > after.File || after.Free > after.HighWater {
		t.Errorf("inconsistent space: %+v", after)
	}
}
