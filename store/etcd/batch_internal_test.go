package etcd

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/internal/etcdtest"
)

// startOne starts a single-member etcd whose requests are limited to
// maxRequestBytes, so that a test can make one transaction fail and the
// next succeed.
func startOne(t *testing.T, maxRequestBytes uint) string {
	return etcdtest.One(t, func(cfg *embed.Config) { cfg.MaxRequestBytes = maxRequestBytes })
}

func request(t *testing.T, s *Store, evs ...event.Event) *appendReq {
	t.Helper()
	r := &appendReq{ctx: context.Background(), res: make(chan error, 1), seqs: make([]uint64, len(evs))}
	for _, ev := range evs {
		v, err := jsonEvent(&ev)
		if err != nil {
			t.Fatal(err)
		}
		r.items = append(r.items, item{id: ev.ID, val: v, size: s.itemSize(ev.ID, v)})
	}
	return r
}

// A request whose event repeats one of an earlier request in the same
// batch gets 0 for it only if that earlier event was committed: when the
// other request's transaction fails, this one fails too, even though its
// own transaction succeeded. Otherwise a sender would get its 2xx for an
// event stored nowhere.
func TestADuplicateIsNotAcknowledgedWhenItsOriginalFailed(t *testing.T) {
	ep := startOne(t, 64<<10) // a 100 KiB event makes its transaction fail
	s, err := Open(context.Background(), Config{Endpoints: []string{ep}, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	big := event.Event{ID: "big", Raw: []byte(`"` + strings.Repeat("x", 100<<10) + `"`)}
	first := []event.Event{big}
	for i := range maxTxnEvents - 1 { // fill the first transaction
		first = append(first, event.Event{ID: fmt.Sprintf("fill-%d", i)})
	}
	a := request(t, s, first...)
	b := request(t, s, event.Event{ID: "small"}, big)

	var seq seqState
	s.commitBatch([]*appendReq{a, b}, &seq)
	if err := <-a.res; err == nil {
		t.Fatal("the transaction with the 100 KiB event succeeded; the test cannot tell anything")
	}
	if err := <-b.res; err == nil {
		t.Fatalf("the request repeating the failed event was acknowledged: seqs %v", b.seqs)
	}
	// Its own event did get in: a re-send finds it, and the sender
	// retrying the whole request loses nothing.
	seqs, err := s.AppendEvents(context.Background(), []event.Event{{ID: "small"}})
	if err != nil || seqs[0] != 0 {
		t.Fatalf("re-sending small = %v, %v; want it found (0)", seqs, err)
	}
}
