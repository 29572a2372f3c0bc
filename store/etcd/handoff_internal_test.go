package etcd

import (
	"context"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/internal/etcdtest"
	"github.com/firebreak/firebreak/internal/storetest"
)

// Every sample payload of every source, decoded by its real decoder and
// appended to a real etcd, is handed to Event exactly as Event reads it
// back from etcd: the same fields, and the body compacted and escaped as
// json.Marshal stores it.
func TestHandoffGivesWhatEtcdReads(t *testing.T) {
	ep := etcdtest.One(t, nil)
	s, err := Open(context.Background(), Config{Endpoints: []string{ep}, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	var appended, handed int
	for _, sample := range storetest.Samples(t, "../../web/sources/testdata") {
		file, body, dec := sample.File, sample.Body, sample.Decoder
		for _, loc := range []*time.Location{time.UTC, time.FixedZone("CET", 3600)} {
			now := time.Now().In(loc)
			evs, err := dec.Decode(body, now)
			if err != nil || len(evs) == 0 {
				continue
			}
			for i := range evs {
				evs[i].ID += "/" + loc.String()
				evs[i].ReceivedAt = now
				evs[i].Raw = body
			}
			seqs, err := s.AppendEvents(ctx, evs)
			if err != nil {
				t.Fatalf("%s: append: %v", file, err)
			}
			for _, seq := range seqs {
				if seq == 0 {
					continue
				}
				appended++
				got, ok := s.handoff.Take(seq)
				if !ok {
					continue
				}
				handed++
				want, err := s.Event(ctx, seq) // read from etcd now
				if err != nil {
					t.Fatal(err)
				}
				if diff := storetest.EventDiff(got, want); diff != "" {
					t.Errorf("%s in %s: handed over and read from etcd differ: %s", file, loc, diff)
				}
			}
		}
	}
	if appended < 30 || handed != appended {
		t.Fatalf("%d of %d appended events handed over", handed, appended)
	}
	// A finished event that was never loaded is not held on to.
	seqs, err := s.AppendEvents(ctx, []event.Event{{ID: "finished-unloaded", Source: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	s.afterFinish(seqs)
	if _, ok := s.handoff.Take(seqs[0]); ok {
		t.Fatal("a finished event stayed in the handoff")
	}
}
