package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store/wal"
)

// The write-ahead inbox. A bbolt commit writes its pages, fdatasyncs,
// writes the meta page and fdatasyncs again, and the receiver's requests
// shared that commit with the engine's work: every 202 waited for two
// flushes of a transaction that also carried other events' audit records.
// Instead, an accepted request is one record in a log of preallocated
// segments (package wal) whose flush is one fdatasync shared by every
// request waiting for it; the receiver answers once that flush returns.
//
// A mover then copies the log's records, in log order, into the inbox
// buckets (inbox, pending, seen, raw) through the commit loop — the same
// puts AppendEvents made before — and records in the same commit how far
// it got (meta wal_moved). The engine reads the inbox as before; it is
// told of new events when they are moved (AddPendingHook). The log's
// segments before that point are then recycled.
//
// Idempotency keys are durable in the same flush as the event: the
// record holds the id. Until an event is moved, its id is checked against
// the log's resident set; after, against the seen bucket. One mutex covers
// that check, the sequence and the Write, so sequences are given in log
// order and the inbox's pending keys appear in increasing order (the
// engine's dispatcher reads them with a forward cursor).
//
// Recovery: Open reads the log, skips every record before wal_moved and
// moves the rest (an event whose id the file already holds is a request
// whose flush failed and that the sender retried: it is dropped).

// walSegmentSize is the size of a log segment. A request larger than one
// segment can hold goes to the file directly (appendDirect).
const walSegmentSize = 16 << 20

// walMaxQueued bounds the bytes of records flushed but not yet moved; past
// it, AppendEvents waits for the mover (as it waited for a commit before).
const walMaxQueued = 16 << 20

// walMoveMax bounds the events one move commit carries.
const walMoveMax = 4096

var keyWALMoved = []byte("wal_moved") // meta: the log position the inbox holds every record before

// walDir is where the log of the database at path lives.
func walDir(path string) string { return path + ".wal" }

// walBatch is one AppendEvents call's record in the log.
type walBatch struct {
	payload []byte
	commit  *wal.Commit // nil for a record read back by recovery
	end     wal.Pos
	ids     []string
	seqs    []uint64
	events  int
	n       uint64 // its place in the queue, from 1
}

type walInbox struct {
	log *wal.Log

	// mu is ingest's serial section: the duplicate check, the sequence
	// and the log's Write.
	mu       sync.Mutex
	nextSeq  uint64
	resident map[string]*walBatch // id → its record, until it is moved
	closed   bool

	// qmu guards the queue of records not yet moved, in log order.
	qmu         sync.Mutex
	qcond       *sync.Cond // signalled when the queue shrinks
	queue       []*walBatch
	queuedBytes int
	enqueued    uint64 // batches queued so far (walBatch.n)
	movedN      uint64 // the n of the last batch moved (or dropped)
	stopped     bool   // the mover has stopped
	wake        chan struct{}
	stop        chan struct{}
	done        chan struct{}

	// gate is held by the mover while it moves: a test holds it to keep
	// records in the log only.
	gate sync.Mutex

	hooksMu sync.Mutex
	hooks   map[int]func()
	hookN   int

	healthMu sync.Mutex
	lastErr  error
	errAt    time.Time
	failing  atomic.Bool // lastErr is set
	// moveFailing is set while the mover's commits fail: past the queue's
	// bound, AppendEvents then refuses rather than waits.
	moveFailing atomic.Bool
	now         func() time.Time
}

// AddPendingHook registers fn to be called after events become pending in
// the inbox, and returns a function that removes it. The engine registers
// its Notify: with the write-ahead log, events become pending when the
// mover has copied them, after AppendEvents has returned.
func (d *DB) AddPendingHook(fn func()) (remove func()) {
	w := d.wal
	if w == nil {
		return func() {}
	}
	w.hooksMu.Lock()
	defer w.hooksMu.Unlock()
	if w.hooks == nil {
		w.hooks = make(map[int]func())
	}
	w.hookN++
	n := w.hookN
	w.hooks[n] = fn
	return func() {
		w.hooksMu.Lock()
		delete(w.hooks, n)
		w.hooksMu.Unlock()
	}
}

func (w *walInbox) notify() {
	w.hooksMu.Lock()
	fns := make([]func(), 0, len(w.hooks))
	for _, fn := range w.hooks {
		fns = append(fns, fn)
	}
	w.hooksMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// openWAL opens the log beside the file, moves what recovery finds into the
// inbox and starts the mover. The commit loop is running.
func (d *DB) openWAL() error {
	var moved wal.Pos
	var maxSeq uint64
	err := d.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyWALMoved); len(v) == 16 {
			moved = wal.Pos{Segment: binary.BigEndian.Uint64(v), Offset: int64(binary.BigEndian.Uint64(v[8:]))}
		}
		maxSeq = tx.Bucket(bucketInbox).Sequence()
		return nil
	})
	if err != nil {
		return err
	}
	var found []*walBatch
	// The log must continue this file: its record at the file's moved
	// position must be there. A file restored from a backup (older than
	// the log), or a log copied from elsewhere, would otherwise have
	// events the file's history already handled moved in again as
	// pending, and their steps run a second time.
	anyRecord := false
	continues := moved.Segment > 0 && moved.Offset == 0 && fileExists(filepath.Join(walDir(d.path), fmt.Sprintf("%016x.log", moved.Segment)))
	segment := int64(walSegmentSize)
	if d.opts.walSegmentSize > 0 {
		segment = d.opts.walSegmentSize
	}
	log, err := wal.Open(walDir(d.path), wal.Options{SegmentSize: segment, NoSync: d.opts.NoSync}, func(at, end wal.Pos, payload []byte) error {
		recs, err := decodeWALRecord(payload)
		if err != nil {
			// A record whose checksum holds but whose content does not
			// decode was written by a newer or broken version: stop
			// rather than guess.
			return fmt.Errorf("write-ahead log record at %d/%d: %w", at.Segment, at.Offset, err)
		}
		for _, r := range recs.events {
			maxSeq = max(maxSeq, r.seq)
		}
		anyRecord = true
		if moved.Segment > 0 && end == moved {
			continues = true
		}
		if at.Less(moved) {
			return nil
		}
		found = append(found, &walBatch{payload: append([]byte(nil), payload...), end: end})
		return nil
	})
	if err != nil {
		return err
	}
	if anyRecord && !continues {
		_ = log.Close()
		return fmt.Errorf("%w: the write-ahead log %s does not continue %s (its last moved record, %d/%d, is not in it): was the file restored from a backup, or the log copied from another? If the file is what you mean to run, move the log directory aside (it holds only events accepted after the file's copy) and start again", ErrWALForeign, walDir(d.path), d.path, moved.Segment, moved.Offset)
	}
	w := &walInbox{
		log:      log,
		nextSeq:  maxSeq + 1,
		resident: make(map[string]*walBatch),
		now:      d.opts.Now,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.qcond = sync.NewCond(&w.qmu)
	if len(found) > 0 {
		for len(found) > 0 {
			n := min(len(found), 256)
			if err := d.moveWAL(context.Background(), found[:n], true); err != nil {
				_ = log.Close()
				return fmt.Errorf("recover the write-ahead log: %w", err)
			}
			found = found[n:]
		}
	}
	// Everything the log held is in the file now: the moved position is
	// where the log writes next (a new segment), named before any event
	// is written there, so that the check above holds from its first
	// record on; the older segments are recycled.
	head := log.Head()
	if err := d.Update(context.Background(), func(stx state.Tx) error {
		return stx.(*Tx).tx.Bucket(bucketMeta).Put(keyWALMoved, encodePos(head))
	}); err != nil {
		_ = log.Close()
		return fmt.Errorf("recover the write-ahead log: %w", err)
	}
	log.Release(head)
	d.wal = w
	go w.run(d)
	return nil
}

func encodePos(p wal.Pos) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, p.Segment)
	binary.BigEndian.PutUint64(v[8:], uint64(p.Offset))
	return v
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// append is AppendEvents through the log.
func (w *walInbox) append(ctx context.Context, d *DB, p *preparedAppend) ([]uint64, error) {
	events, enc := p.events, p.enc
	seqs := make([]uint64, len(events))
	var waitFor []*walBatch // records holding this request's duplicates
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, ErrClosed
	}
	// Past the bound, wait for the mover to catch up (a stalled file).
	w.qmu.Lock()
	for w.queuedBytes > walMaxQueued && !w.closed {
		if err := ctx.Err(); err != nil {
			w.qmu.Unlock()
			w.mu.Unlock()
			return nil, err
		}
		if w.moveFailing.Load() {
			w.qmu.Unlock()
			w.mu.Unlock()
			return nil, fmt.Errorf("append events: %d MiB of accepted events wait in the write-ahead log while the file refuses commits: %w", walMaxQueued>>20, ErrCommitFailing)
		}
		w.qcond.Wait()
	}
	w.qmu.Unlock()
	b := &walBatch{}
	rec := walRecordWriter{buf: make([]byte, 0, walRecordSize(enc))}
	err := d.bolt.View(func(tx *bolt.Tx) error {
		seen := tx.Bucket(bucketSeen)
		refs := map[int]uint64{}
		for i := range events {
			id := events[i].ID
			if r := w.resident[id]; r != nil {
				if r != b && !containsBatch(waitFor, r) {
					waitFor = append(waitFor, r)
				}
				continue
			}
			if seen.Get([]byte(id)) != nil {
				continue
			}
			seq := w.nextSeq + uint64(len(b.seqs))
			v := enc[i].full
			var ref uint64
			if v == nil {
				var ok bool
				if ref, ok = refs[enc[i].group]; !ok {
					ref = seq
					refs[enc[i].group] = seq
					rec.raw(ref, enc[i].raw)
				}
				v = appendUintMember(enc[i].open, "raw_ref", ref)
			}
			rec.event(seq, id, ref, v)
			w.resident[id] = b
			b.ids = append(b.ids, id)
			b.seqs = append(b.seqs, seq)
			seqs[i] = seq
		}
		return nil
	})
	if err == nil && len(b.ids) > 0 {
		b.payload = rec.finish()
		b.events = len(b.ids)
		b.commit, err = w.log.Write(b.payload)
		if errors.Is(err, wal.ErrTooLarge) {
			for _, id := range b.ids {
				delete(w.resident, id)
			}
			seqs, err = w.appendTooLarge(ctx, d, p)
			w.mu.Unlock()
			if err != nil {
				return nil, err
			}
			w.notify()
			return seqs, w.waitBatches(ctx, waitFor)
		}
	}
	if err != nil {
		for _, id := range b.ids {
			delete(w.resident, id)
		}
		w.mu.Unlock()
		w.noteErr(err)
		return nil, fmt.Errorf("append events: %w", err)
	}
	if len(b.ids) > 0 {
		b.end = b.commit.End()
		w.nextSeq += uint64(len(b.ids))
		for i, seq := range seqs {
			if seq == 0 {
				continue
			}
			if p.canHand[i] {
				d.handoff.Put(seq, p.handed[i])
			} else {
				d.handoff.Drop(seq)
			}
		}
		w.qmu.Lock()
		w.enqueued++
		b.n = w.enqueued
		w.queue = append(w.queue, b)
		w.queuedBytes += len(b.payload)
		w.qmu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	if b.commit != nil {
		// Once written the record will be flushed or fail; wait for the
		// answer even if ctx ends, so a caller never mistakes a flush for
		// a loss.
		<-b.commit.Done()
		if err := b.commit.Err(); err != nil {
			for _, seq := range b.seqs {
				d.handoff.Drop(seq)
			}
			// Not stored, and the sender was told so: its retry must not
			// be refused as a duplicate of this delivery (the mover only
			// drops the failed record when it passes it).
			w.mu.Lock()
			for _, id := range b.ids {
				if w.resident[id] == b {
					delete(w.resident, id)
				}
			}
			w.mu.Unlock()
			w.noteErr(err)
			return nil, fmt.Errorf("append events: %w", err)
		}
		w.noteOK()
	}
	return seqs, w.waitBatches(ctx, waitFor)
}

// appendTooLarge stores a request that no log segment can hold directly in
// the file, after everything before it was moved, so that sequences stay in
// order. The caller holds w.mu.
func (w *walInbox) appendTooLarge(ctx context.Context, d *DB, p *preparedAppend) ([]uint64, error) {
	w.qmu.Lock()
	for len(w.queue) > 0 {
		w.qcond.Wait()
	}
	w.qmu.Unlock()
	return d.appendDirect(ctx, p, w)
}

// waitBatches waits until the records holding duplicates of a request's
// events are durable: a duplicate is acknowledged as stored only when the
// original is. If one failed, the sender must retry.
func (w *walInbox) waitBatches(ctx context.Context, bs []*walBatch) error {
	for _, b := range bs {
		if b.commit == nil {
			continue
		}
		select {
		case <-b.commit.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := b.commit.Err(); err != nil {
			return fmt.Errorf("append events: the same event's first delivery was not stored: %w", err)
		}
	}
	return nil
}

func containsBatch(bs []*walBatch, b *walBatch) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}

func (w *walInbox) noteErr(err error) {
	w.healthMu.Lock()
	w.lastErr, w.errAt = err, w.now()
	w.healthMu.Unlock()
	w.failing.Store(true)
}

// noteOK clears a failure once a flush or a move succeeds again.
func (w *walInbox) noteOK() {
	if !w.failing.Load() {
		return
	}
	w.healthMu.Lock()
	w.lastErr = nil
	w.healthMu.Unlock()
	w.failing.Store(false)
}

// health reports a log failure seen within readyHold.
func (w *walInbox) health(now time.Time) error {
	if !w.failing.Load() {
		return nil
	}
	w.healthMu.Lock()
	defer w.healthMu.Unlock()
	if w.lastErr != nil && now.Sub(w.errAt) < readyHold {
		return w.lastErr
	}
	return nil
}

// unmovedIn counts the acknowledged events that tx does not hold yet. A
// record is moved in one commit, so its first event tells; a record whose
// flush failed was never acknowledged.
func (w *walInbox) unmovedIn(tx *bolt.Tx) int {
	inbox := tx.Bucket(bucketInbox)
	w.qmu.Lock()
	defer w.qmu.Unlock()
	n := 0
	for _, b := range w.queue {
		if isDone(b.commit) && b.commit.Err() != nil {
			continue
		}
		if inbox.Get(itob(b.seqs[0])) == nil {
			n += b.events
		}
	}
	return n
}

// run is the mover: it copies flushed records into the inbox, in log order.
func (w *walInbox) run(d *DB) {
	defer close(w.done)
	defer func() {
		w.qmu.Lock()
		w.stopped = true
		w.qcond.Broadcast()
		w.qmu.Unlock()
	}()
	backoff := 10 * time.Millisecond
	for {
		w.qmu.Lock()
		var first *walBatch
		if len(w.queue) > 0 {
			first = w.queue[0]
		}
		w.qmu.Unlock()
		if first == nil {
			select {
			case <-w.wake:
				continue
			case <-w.stop:
				// Stopping with nothing queued: Close took w.mu, so
				// nothing more comes.
				w.qmu.Lock()
				empty := len(w.queue) == 0
				w.qmu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		<-first.commit.Done()
		// Take every record flushed since: one commit moves them all.
		w.qmu.Lock()
		n, events := 0, 0
		for _, b := range w.queue {
			if events >= walMoveMax {
				break
			}
			if !isDone(b.commit) {
				break
			}
			n++
			events += b.events
		}
		batch := append([]*walBatch(nil), w.queue[:n]...)
		w.qmu.Unlock()
		var live []*walBatch
		for _, b := range batch {
			if b.commit.Err() == nil {
				live = append(live, b)
			}
		}
		w.gate.Lock()
		err := d.moveWAL(context.Background(), live, false)
		w.gate.Unlock()
		if err != nil {
			w.moveFailing.Store(true)
			w.qmu.Lock()
			w.qcond.Broadcast() // appenders waiting on the bound refuse now
			w.qmu.Unlock()
			select {
			case <-w.stop:
				// Closing and the file refuses: leave the rest in the
				// log for the next start.
				slog.Default().Error("store: moving accepted events from the write-ahead log into the file failed; they stay in the log for the next start", "error", err)
				w.qmu.Lock()
				w.queue = nil
				w.queuedBytes = 0
				w.stopped = true
				w.qcond.Broadcast()
				w.qmu.Unlock()
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		w.moveFailing.Store(false)
		last := batch[len(batch)-1]
		// Off the queue first: a request too large for the log holds
		// w.mu while it waits for the queue to empty. Until the ids leave
		// the resident set they are refused as duplicates there as well
		// as in the file, which now holds them.
		w.qmu.Lock()
		w.queue = w.queue[n:]
		w.movedN = last.n
		for _, b := range batch {
			w.queuedBytes -= len(b.payload)
		}
		w.qcond.Broadcast()
		w.qmu.Unlock()
		w.mu.Lock()
		for _, b := range batch {
			for _, id := range b.ids {
				if w.resident[id] == b {
					delete(w.resident, id)
				}
			}
		}
		w.mu.Unlock()
		w.log.Release(last.end)
		if len(live) > 0 {
			w.notify()
		}
	}
}

func isDone(c *wal.Commit) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// moveWAL copies records into the inbox in one commit and records the log
// position after the last. recovering marks records read back at Open,
// which may hold events the file already has.
func (d *DB) moveWAL(ctx context.Context, batches []*walBatch, recovering bool) error {
	if len(batches) == 0 {
		return nil
	}
	type decoded struct {
		rec walRecord
		end wal.Pos
	}
	recs := make([]decoded, len(batches))
	for i, b := range batches {
		r, err := decodeWALRecord(b.payload)
		if err != nil {
			return fmt.Errorf("write-ahead log record: %w", err)
		}
		recs[i] = decoded{rec: r, end: b.end}
	}
	return d.Update(ctx, func(stx state.Tx) error {
		tx := stx.(*Tx)
		inbox, pending, seen, raws := tx.inboxBuckets()
		top := inbox.Sequence()
		for _, r := range recs {
			used := map[uint64]bool{}
			for _, e := range r.rec.events {
				k := itob(e.seq)
				if recovering && (seen.Get([]byte(e.id)) != nil || inbox.Get(k) != nil) {
					// Stored already: a retried delivery of a request
					// whose flush failed. The first one stands.
					d.handoff.Drop(e.seq)
					continue
				}
				if err := inbox.Put(k, e.entry); err != nil {
					return err
				}
				if err := pending.Put(k, nil); err != nil {
					return err
				}
				if err := seen.Put([]byte(e.id), k); err != nil {
					return err
				}
				if e.ref != 0 {
					used[e.ref] = true
				}
				top = max(top, e.seq)
			}
			for _, raw := range r.rec.raws {
				if !used[raw.ref] {
					continue
				}
				if err := raws.Put(itob(raw.ref), raw.body); err != nil {
					return err
				}
			}
		}
		if top > inbox.Sequence() {
			if err := inbox.SetSequence(top); err != nil {
				return err
			}
		}
		return tx.tx.Bucket(bucketMeta).Put(keyWALMoved, encodePos(recs[len(recs)-1].end))
	})
}

// closeWAL stops ingest, moves what is queued and closes the log. The
// commit loop is still running.
func (d *DB) closeWAL() {
	w := d.wal
	if w == nil {
		return
	}
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.qmu.Lock()
	w.qcond.Broadcast()
	w.qmu.Unlock()
	close(w.stop)
	<-w.done
	_ = w.log.Close()
}

// unmovedWAL counts the events a log holds that the file does not: what a
// read-only open would miss. Each of its records is read, none is changed.
func unmovedWAL(path string, tx *bolt.Tx) (int, error) {
	dir := walDir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	var moved wal.Pos
	if v := tx.Bucket(bucketMeta).Get(keyWALMoved); len(v) == 16 {
		moved = wal.Pos{Segment: binary.BigEndian.Uint64(v), Offset: int64(binary.BigEndian.Uint64(v[8:]))}
	}
	n := 0
	err := wal.Scan(dir, func(at, _ wal.Pos, payload []byte) error {
		if at.Less(moved) {
			return nil
		}
		r, err := decodeWALRecord(payload)
		if err != nil {
			return err
		}
		seen := tx.Bucket(bucketSeen)
		for _, e := range r.events {
			if seen.Get([]byte(e.id)) == nil {
				n++
			}
		}
		return nil
	})
	return n, err
}

// The record of one AppendEvents call, little-endian varints:
//
//	version (1)
//	n, then n events: seq, len(id) id, ref (0: body inline), len(entry) entry
//	m, then m shared bodies: ref, len(body) body
//
// entry is the inbox value exactly as the file stores it.
type walRecord struct {
	events []walEvent
	raws   []walRaw
}

type walEvent struct {
	seq, ref uint64
	id       string
	entry    []byte
}

type walRaw struct {
	ref  uint64
	body []byte
}

const walRecordVersion = 1

// walRecordWriter builds a record; events and bodies are buffered apart
// and joined by finish.
type walRecordWriter struct {
	buf    []byte // the events
	rawBuf []byte
	n, m   int
}

func walRecordSize(enc []encodedEvent) int {
	n := 16
	for i := range enc {
		n += len(enc[i].full) + len(enc[i].open) + 64
		if enc[i].full == nil {
			n += len(enc[i].raw) / max(1, len(enc))
		}
	}
	return n
}

func (w *walRecordWriter) event(seq uint64, id string, ref uint64, entry []byte) {
	w.buf = binary.AppendUvarint(w.buf, seq)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(id)))
	w.buf = append(w.buf, id...)
	w.buf = binary.AppendUvarint(w.buf, ref)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(entry)))
	w.buf = append(w.buf, entry...)
	w.n++
}

func (w *walRecordWriter) raw(ref uint64, body []byte) {
	w.rawBuf = binary.AppendUvarint(w.rawBuf, ref)
	w.rawBuf = binary.AppendUvarint(w.rawBuf, uint64(len(body)))
	w.rawBuf = append(w.rawBuf, body...)
	w.m++
}

func (w *walRecordWriter) finish() []byte {
	out := make([]byte, 0, len(w.buf)+len(w.rawBuf)+24)
	out = append(out, walRecordVersion)
	out = binary.AppendUvarint(out, uint64(w.n))
	out = append(out, w.buf...)
	out = binary.AppendUvarint(out, uint64(w.m))
	return append(out, w.rawBuf...)
}

var errWALRecord = errors.New("malformed record")

// decodeWALRecord decodes a record; its slices point into payload.
func decodeWALRecord(payload []byte) (walRecord, error) {
	var r walRecord
	if len(payload) == 0 || payload[0] != walRecordVersion {
		return r, fmt.Errorf("%w: unknown version", errWALRecord)
	}
	p := payload[1:]
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	bytesN := func() ([]byte, bool) {
		l, ok := uv()
		if !ok || l > uint64(len(p)) {
			return nil, false
		}
		b := p[:l:l]
		p = p[l:]
		return b, true
	}
	n, ok := uv()
	if !ok || n > uint64(len(p)) {
		return r, errWALRecord
	}
	r.events = make([]walEvent, 0, n)
	for range n {
		var e walEvent
		var id []byte
		if e.seq, ok = uv(); !ok || e.seq == 0 {
			return r, errWALRecord
		}
		if id, ok = bytesN(); !ok {
			return r, errWALRecord
		}
		e.id = string(id)
		if e.ref, ok = uv(); !ok {
			return r, errWALRecord
		}
		if e.entry, ok = bytesN(); !ok {
			return r, errWALRecord
		}
		r.events = append(r.events, e)
	}
	m, ok := uv()
	if !ok || m > uint64(len(p)) {
		return r, errWALRecord
	}
	for range m {
		var raw walRaw
		if raw.ref, ok = uv(); !ok {
			return r, errWALRecord
		}
		if raw.body, ok = bytesN(); !ok {
			return r, errWALRecord
		}
		r.raws = append(r.raws, raw)
	}
	if len(p) != 0 {
		return r, fmt.Errorf("%w: %d trailing bytes", errWALRecord, len(p))
	}
	return r, nil
}

// sync waits until every record acknowledged before the call is moved into
// the file: reads of the inbox (Pending, Event, EventsSince, EventByID,
// retention) see every event AppendEvents returned for. Records still
// being flushed are not waited for: nobody was told they are stored.
func (w *walInbox) sync(ctx context.Context) error {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	target := uint64(0)
	for i := len(w.queue) - 1; i >= 0; i-- {
		if isDone(w.queue[i].commit) {
			target = w.queue[i].n
			break
		}
	}
	if target == 0 {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		w.qmu.Lock()
		w.qcond.Broadcast()
		w.qmu.Unlock()
	})
	defer stop()
	for w.movedN < target && !w.stopped {
		if err := ctx.Err(); err != nil {
			return err
		}
		w.qcond.Wait()
	}
	return nil
}

// syncInbox is sync for readers of the whole file.
func (d *DB) syncInbox(ctx context.Context) error {
	if d.wal == nil {
		return nil
	}
	return d.wal.sync(ctx)
}

// queuedSeq reports whether seq may be in a record not yet moved.
func (w *walInbox) queuedSeq(seq uint64) bool {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	return len(w.queue) > 0 && len(w.queue[0].seqs) > 0 && seq >= w.queue[0].seqs[0]
}
