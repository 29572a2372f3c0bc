package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btoi(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// AppendEvents makes events durable in the inbox. Events whose id was seen
// before are not stored again. The result has one entry per event: its inbox
// sequence, or 0 for a duplicate. It returns once the events are durable:
// in the write-ahead log (walinbox.go), from which they are moved into the
// file moments later (Options.WAL), or else after the file's commit.
//
// The events of one request share its body (Event.Raw, the same slice).
// A lone event carries it inline; when a request brings several new events,
// the body is stored once, in the raw bucket under the sequence of the
// first, and each event names it (raw_ref). An Alertmanager group of ten
// alerts otherwise wrote its whole body ten times.
func (d *DB) AppendEvents(ctx context.Context, events []event.Event) ([]uint64, error) {
	if d.opts.ReadOnly {
		return nil, ErrReadOnly
	}
	p, err := prepareAppend(events)
	if err != nil {
		return nil, err
	}
	if d.wal != nil {
		return d.wal.append(ctx, d, p)
	}
	return d.appendDirect(ctx, p, nil)
}

// preparedAppend is an AppendEvents call encoded outside any lock: the
// entries as the inbox stores them (but for the shared bodies' references,
// which need the sequences) and what the handoff will hold.
type preparedAppend struct {
	events    []event.Event
	enc       []encodedEvent
	groupSize []int
	handed    []event.Event
	canHand   []bool
}

func prepareAppend(events []event.Event) (*preparedAppend, error) {
	// Encode outside the write transaction: the commit loop is the one
	// serial section of ingest, so it only does puts.
	p := &preparedAppend{
		events:    events,
		enc:       make([]encodedEvent, len(events)),
		groupSize: make([]int, len(events)),
		handed:    make([]event.Event, len(events)),
		canHand:   make([]bool, len(events)),
	}
	enc, groupSize := p.enc, p.groupSize
	for i := range events {
		enc[i] = encodedEvent{raw: events[i].Raw, group: i}
		if i > 0 && len(enc[i].raw) > 0 && sameBytes(enc[i].raw, enc[i-1].raw) {
			enc[i].group = enc[i-1].group
		}
		groupSize[enc[i].group]++
	}
	var lastRaw []byte
	for i := range events {
		inline := len(enc[i].raw) > 0 && groupSize[enc[i].group] == 1
		open, err := encodeOpen(&events[i], inline, &lastRaw)
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", events[i].ID, err)
		}
		switch {
		case len(enc[i].raw) == 0:
			enc[i].full = append(open, '}')
		case inline:
			enc[i].full = appendMember(open, "raw", enc[i].raw)
		default:
			enc[i].open = open
		}
	}
	// What the engine will load, handed over once stored (see Handoff):
	// the events as the file reads them back.
	for i := range events {
		ev := events[i]
		if enc[i].full != nil && len(ev.Raw) > 0 {
			// Inline, the body reads back as a member's value: without
			// the whitespace around it. A shared body reads back whole.
			ev.Raw = trimJSONSpace(ev.Raw)
		}
		p.handed[i], p.canHand[i] = AsStored(ev)
	}
	return p, nil
}

// appendDirect stores the events in the file's inbox in one commit: the
// path without a write-ahead log, and the log's path for a request too
// large for a log segment. w, when not nil, is the log whose sequence the
// inbox continues; its caller holds w.mu with nothing left to move.
func (d *DB) appendDirect(ctx context.Context, p *preparedAppend, w *walInbox) ([]uint64, error) {
	events, enc, canHand, handed := p.events, p.enc, p.canHand, p.handed
	var put []uint64 // sequences handed over by the transaction's runs
	seqs := make([]uint64, len(events))
	err := d.Update(ctx, func(stx state.Tx) error {
		tx := stx.(*Tx)
		inbox, pending, seen, raws := tx.inboxBuckets()
		if w != nil && w.nextSeq > inbox.Sequence()+1 {
			// Sequences the log gave to events whose flush failed may be
			// recovered from it later: never give them again.
			if err := inbox.SetSequence(w.nextSeq - 1); err != nil {
				return err
			}
		}
		var refs map[int]uint64 // group → key of its stored body, this run
		for i := range events {
			seqs[i] = 0
			id := []byte(events[i].ID)
			if seen.Get(id) != nil || (w != nil && w.resident[events[i].ID] != nil) {
				continue
			}
			seq, err := inbox.NextSequence()
			if err != nil {
				return err
			}
			k := itob(seq)
			v := enc[i].full
			if v == nil {
				ref, ok := refs[enc[i].group]
				if !ok {
					if refs == nil {
						refs = make(map[int]uint64)
					}
					ref, refs[enc[i].group] = seq, seq
					if err := raws.Put(k, enc[i].raw); err != nil {
						return err
					}
				}
				v = appendUintMember(enc[i].open, "raw_ref", ref)
			}
			if err := inbox.Put(k, v); err != nil {
				return err
			}
			if err := pending.Put(k, nil); err != nil {
				return err
			}
			if err := seen.Put(id, k); err != nil {
				return err
			}
			seqs[i] = seq
			if canHand[i] {
				d.handoff.Put(seq, handed[i])
				put = append(put, seq)
			} else {
				// A failed commit may have left another event here.
				d.handoff.Drop(seq)
			}
		}
		return nil
	})
	if err != nil {
		// Not committed: the sequences will be given to other events.
		for _, seq := range put {
			d.handoff.Drop(seq)
		}
		return nil, fmt.Errorf("append events: %w", err)
	}
	if w != nil {
		for _, seq := range seqs {
			w.nextSeq = max(w.nextSeq, seq+1)
		}
	}
	return seqs, nil
}

// encodedEvent is an event ready to store: full when it needs no shared
// body, else the open object (appendEventOpen) plus the body to store once
// for its group.
type encodedEvent struct {
	open, raw, full []byte
	group           int
}

// storedEvent is an inbox value: the event, and where its body is when it
// is not inline.
type storedEvent struct {
	event.Event
	RawRef uint64 `json:"raw_ref,omitempty"`
}

// decodeStored decodes an inbox value, fetching a shared body.
func decodeStored(tx *bolt.Tx, v []byte) (event.Event, error) {
	var s storedEvent
	if err := json.Unmarshal(v, &s); err != nil {
		return event.Event{}, err
	}
	if s.RawRef != 0 {
		if raw := tx.Bucket(bucketRaw).Get(itob(s.RawRef)); raw != nil {
			s.Raw = append(json.RawMessage(nil), raw...)
		}
	}
	return s.Event, nil
}

// Pending returns up to limit sequences of accepted but unfinished events
// greater than after, in order.
func (d *DB) Pending(ctx context.Context, after uint64, limit int) ([]uint64, error) {
	if d.wal != nil {
		if err := d.wal.sync(ctx); err != nil {
			return nil, err
		}
	}
	var out []uint64
	err := d.bolt.View(func(tx *boltTx) error {
		c := tx.Bucket(bucketPending).Cursor()
		for k, _ := c.Seek(itob(after + 1)); k != nil && len(out) < limit; k, _ = c.Next() {
			out = append(out, btoi(k))
		}
		return nil
	})
	return out, err
}

// PendingCount returns how many accepted events are not yet finished.
func (d *DB) PendingCount() int {
	n := 0
	_ = d.bolt.View(func(tx *boltTx) error {
		n = tx.Bucket(bucketPending).Stats().KeyN
		if d.wal != nil {
			n += d.wal.unmovedIn(tx) // accepted, not yet moved into the file
		}
		return nil
	})
	return n
}

// Event loads the inbox event with the given sequence.
//
// With the write-ahead log, an event not yet moved into the file is waited
// for: once Event returns, the event is pending in the file and can be
// finished.
func (d *DB) Event(ctx context.Context, seq uint64) (event.Event, error) {
	if d.wal != nil && d.wal.queuedSeq(seq) {
		if err := d.wal.sync(ctx); err != nil {
			return event.Event{}, err
		}
	}
	if ev, ok := d.handoff.Take(seq); ok {
		return ev, nil
	}
	var ev event.Event
	err := d.bolt.View(func(tx *boltTx) error {
		v := tx.Bucket(bucketInbox).Get(itob(seq))
		if v == nil {
			return fmt.Errorf("event %d: %w", seq, ErrNotFound)
		}
		var err error
		ev, err = decodeStored(tx, v)
		return err
	})
	return ev, err
}

// EventsSince calls fn for each stored event received at or after since, in
// inbox order. It is the input of replay.
func (d *DB) EventsSince(ctx context.Context, sinceUnixNano int64, fn func(seq uint64, ev event.Event) error) error {
	if d.wal != nil {
		if err := d.wal.sync(ctx); err != nil {
			return err
		}
	}
	return d.bolt.View(func(tx *boltTx) error {
		c := tx.Bucket(bucketInbox).Cursor()
		start := inboxStart(c, sinceUnixNano)
		for k, v := c.Seek(itob(start)); k != nil; k, v = c.Next() {
			ev, err := decodeStored(tx, v)
			if err != nil {
				return fmt.Errorf("event %d: %w", btoi(k), err)
			}
			if ev.ReceivedAt.UnixNano() < sinceUnixNano {
				continue
			}
			if err := fn(btoi(k), ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// inboxSlack is how far out of order receive times may be in the inbox:
// concurrent requests stamp their events before they share a commit.
const inboxSlack = time.Minute

// inboxStart finds, by binary search over the arrival-ordered inbox, a
// sequence before which every event was received before since (less the
// slack); the caller still filters each event it reads.
func inboxStart(c *bolt.Cursor, sinceUnixNano int64) uint64 {
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 0
	}
	target := time.Unix(0, sinceUnixNano).Add(-inboxSlack)
	lo, hi := btoi(first), btoi(last)+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		k, v := c.Seek(itob(mid))
		if k == nil {
			hi = mid
			continue
		}
		var ev struct {
			ReceivedAt time.Time `json:"received_at"`
		}
		if json.Unmarshal(v, &ev) != nil || !ev.ReceivedAt.Before(target) {
			hi = mid
		} else {
			lo = btoi(k) + 1
		}
	}
	return lo
}

// Finish marks the event done: it leaves the pending set. The caller's
// records are written in the same transaction.
//
// seq must be one Pending listed: with the write-ahead log an event
// becomes pending when it is moved into the file, moments after
// AppendEvents returned, and finishing it before would leave it pending.
// That is refused with an error, not ignored.
func (tx *Tx) Finish(seq uint64) error {
	pending := tx.tx.Bucket(bucketPending)
	k := itob(seq)
	if w := tx.db.wal; w != nil && pending.Get(k) == nil && w.queuedSeq(seq) {
		return fmt.Errorf("finish event %d: it is not in the inbox yet (read it through Pending first)", seq)
	}
	return pending.Delete(k)
}

// inboxBuckets returns the buckets an accepted event is stored in, set for
// keys that only append: fill pages instead of splitting them in half,
// which halves the pages each commit writes.
func (tx *Tx) inboxBuckets() (inbox, pending, seen, raws *bolt.Bucket) {
	inbox, pending = tx.tx.Bucket(bucketInbox), tx.tx.Bucket(bucketPending)
	seen, raws = tx.tx.Bucket(bucketSeen), tx.tx.Bucket(bucketRaw)
	inbox.FillPercent, pending.FillPercent, raws.FillPercent = appendFill, appendFill, appendFill
	return inbox, pending, seen, raws
}

// appendFill is the fill percent for buckets whose keys only grow.
const appendFill = 0.95

// encodeOpen encodes ev without its body, leaving the object open
// (appendEventOpen) for the caller to add the body, or a reference to it,
// without re-encoding it: encoding/json would compact a RawMessage byte by
// byte for every event of a request. inline says the body will follow, to
// size the buffer for it. The body is checked to be JSON once per distinct
// slice (lastRaw remembers the last one found valid).
func encodeOpen(ev *event.Event, inline bool, lastRaw *[]byte) ([]byte, error) {
	raw := ev.Raw
	size := 1024
	if inline {
		size += len(raw) + len(`,"raw":}`)
	}
	open, ok := appendEventOpen(make([]byte, 0, size), ev)
	if !ok {
		cp := *ev
		cp.Raw = nil
		b, err := json.Marshal(&cp)
		if err != nil {
			return nil, err
		}
		open = b[:len(b)-1] // drop the closing brace
	}
	if len(raw) > 0 && !sameBytes(raw, *lastRaw) {
		if !json.Valid(raw) {
			return nil, errors.New("raw payload is not valid JSON")
		}
		*lastRaw = raw
	}
	return open, nil
}

// sameBytes reports whether a and b are the same slice of memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}
