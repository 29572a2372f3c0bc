package etcd

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

// A round is one attempt at committing a group of Update functions: they
// run one after the other against a snapshot of etcd at one revision, each
// in its own overlay (a failing function's effects are dropped alone), and
// their reads become the compares of one transaction.
type round struct {
	s   *Store
	ctx context.Context
	rev int64 // the snapshot's revision; 0 until the first read
	// cache holds what was read from etcd at rev (nil value: absent).
	cache map[string]kvRead
	// ranges caches ForEach reads at rev, by start key.
	rangeCache map[string][]kvPair
	readErr    error
	readOnly   bool

	merged effects
}

type kvRead struct {
	val    []byte
	exists bool
	modRev int64
}

type kvPair struct {
	key    string
	val    []byte
	modRev int64
}

// effects are what one function (or, merged, a whole round) read and
// wrote.
type effects struct {
	reads  map[string]struct{} // keys read from etcd (become compares)
	ranges []rangeRead
	writes map[string]write
	order  []string // write keys in first-write order
	// rawDeletes are [start, end) ranges deleted by the store itself
	// (compaction).
	rawDeletes [][2]string
	audits     []pendingAudit
	// auditBytes adjusts the kept audit size (compaction).
	auditBytes int64
	finished   []uint64
	signNow    []*signReq
	bytes      int
}

type write struct {
	val []byte
	del bool
}

type rangeRead struct {
	start, end string
	keys       []kvPair // what the range held at rev
}

type pendingAudit struct {
	rec  audit.Record
	size int
}

func newEffects() effects {
	return effects{reads: map[string]struct{}{}, writes: map[string]write{}}
}

func (e *effects) put(k string, w write) {
	if _, ok := e.writes[k]; !ok {
		e.order = append(e.order, k)
	}
	e.writes[k] = w
	e.bytes += len(k) + len(w.val) + opOverhead
}

// merge adds o (a later function's effects) to e.
func (e *effects) merge(o *effects) {
	for k := range o.reads {
		e.reads[k] = struct{}{}
	}
	e.ranges = append(e.ranges, o.ranges...)
	for _, k := range o.order {
		if _, ok := e.writes[k]; !ok {
			e.order = append(e.order, k)
		}
		e.writes[k] = o.writes[k]
	}
	e.bytes += o.bytes
	e.rawDeletes = append(e.rawDeletes, o.rawDeletes...)
	e.audits = append(e.audits, o.audits...)
	e.auditBytes += o.auditBytes
	e.finished = append(e.finished, o.finished...)
	e.signNow = append(e.signNow, o.signNow...)
}

// rangeCompareKeys is how many keys a ForEach may see for each of them to
// get its own compare (which also catches a key deleted since the
// snapshot); a larger range gets only the range compare.
const rangeCompareKeys = 8

// cost returns the compares and operations e needs, the way the commit
// builds them.
func (e *effects) cost(signEvery int) (cmps, ops int) {
	cmps = len(e.reads)
	for _, r := range e.ranges {
		cmps++
		if len(r.keys) <= rangeCompareKeys {
			cmps += len(r.keys)
		}
	}
	ops = len(e.writes) + len(e.rawDeletes) + len(e.finished)
	for _, a := range e.audits {
		ops += 1 + indexCount(&a.rec)
	}
	if len(e.audits) > 0 || len(e.signNow) > 0 {
		ops++ // the head
		if signEvery > 0 {
			ops += (len(e.audits)/signEvery + 1) * 2
		}
	}
	return cmps, ops
}

// Tx is the transaction an Update or View function gets; it implements
// state.Tx over etcd. Keys are <prefix>/state/<bucket>/<key>.
type Tx struct {
	r      *round
	parent *effects // the round's merged effects, read through
	own    effects
}

var _ state.Tx = (*Tx)(nil)

func (s *Store) stateKey(bucket, key string) string { return s.prefix + dirState + bucket + "/" + key }

// fetch reads k at the round's revision, from the cache when it was read.
func (t *Tx) fetch(k string) kvRead {
	r := t.r
	if v, ok := r.cache[k]; ok {
		return v
	}
	if r.readErr != nil {
		return kvRead{}
	}
	resp, err := r.get(k)
	if err != nil {
		r.readErr = fmt.Errorf("read %s: %w", strings.TrimPrefix(k, r.s.prefix), err)
		return kvRead{}
	}
	var v kvRead
	if len(resp.Kvs) > 0 {
		kv := resp.Kvs[0]
		v = kvRead{val: kv.Value, exists: true, modRev: kv.ModRevision}
	}
	r.cache[k] = v
	return v
}

// get reads at the round's revision; the first read fixes it.
func (r *round) get(k string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := r.s.reqCtx(r.ctx)
	defer cancel()
	if r.rev == 0 {
		resp, err := r.s.cli.Get(ctx, k, opts...)
		if err != nil {
			return nil, err
		}
		r.rev = resp.Header.Revision
		return resp, nil
	}
	opts = append(opts, clientv3.WithRev(r.rev))
	// A serializable read at a fixed revision is the same on every member
	// that has applied it, and is served without a quorum round.
	resp, err := r.s.cli.Get(ctx, k, append(opts, clientv3.WithSerializable())...)
	if err == nil {
		return resp, nil
	}
	return r.s.cli.Get(ctx, k, opts...)
}

// lookup resolves k through this function's writes, the round's, then
// etcd.
func (t *Tx) lookup(k string) ([]byte, bool) {
	if w, ok := t.own.writes[k]; ok {
		return w.val, !w.del
	}
	if w, ok := t.parent.writes[k]; ok {
		return w.val, !w.del
	}
	v := t.fetch(k)
	t.own.reads[k] = struct{}{}
	return v.val, v.exists
}

// Get returns a copy of the value at bucket/key, or nil.
func (t *Tx) Get(bucket, key string) []byte {
	v, ok := t.lookup(t.r.s.stateKey(bucket, key))
	if !ok {
		return nil
	}
	return append([]byte{}, v...)
}

// Put stores value at bucket/key.
func (t *Tx) Put(bucket, key string, value []byte) error {
	if t.r.readOnly {
		return fmt.Errorf("put %s/%s: %w", bucket, key, ErrReadOnly)
	}
	t.own.put(t.r.s.stateKey(bucket, key), write{val: append([]byte{}, value...)})
	return nil
}

// Delete removes bucket/key.
func (t *Tx) Delete(bucket, key string) error {
	if t.r.readOnly {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, ErrReadOnly)
	}
	t.own.put(t.r.s.stateKey(bucket, key), write{del: true})
	return nil
}

// scan returns the keys and values under prefix as this function sees
// them: etcd at the round's revision, with the round's and its own writes
// applied, in key order. The range is recorded for the commit's compare.
func (t *Tx) scan(prefix string) []kvPair {
	return t.scanRange(prefix, clientv3.GetPrefixRangeEnd(prefix))
}

// scanRange is scan over the keys in [prefix, end).
func (t *Tx) scanRange(prefix, end string) []kvPair {
	r := t.r
	ck := prefix + "\x00" + end
	base, ok := r.rangeCache[ck]
	if !ok && r.readErr == nil {
		resp, err := r.get(prefix, clientv3.WithRange(end))
		if err != nil {
			r.readErr = fmt.Errorf("read range %s: %w", strings.TrimPrefix(prefix, r.s.prefix), err)
		} else {
			for _, kv := range resp.Kvs {
				base = append(base, kvPair{key: string(kv.Key), val: kv.Value, modRev: kv.ModRevision})
			}
			r.rangeCache[ck] = base
		}
	}
	t.own.ranges = append(t.own.ranges, rangeRead{start: prefix, end: end, keys: base})
	m := make(map[string][]byte, len(base))
	for _, kv := range base {
		m[kv.key] = kv.val
	}
	for _, ws := range []map[string]write{t.parent.writes, t.own.writes} {
		for k, w := range ws {
			if k < prefix || k >= end {
				continue
			}
			if w.del {
				delete(m, k)
			} else {
				m[k] = w.val
			}
		}
	}
	out := make([]kvPair, 0, len(m))
	for k, v := range m {
		out = append(out, kvPair{key: k, val: v})
	}
	slices.SortFunc(out, func(a, b kvPair) int { return strings.Compare(a.key, b.key) })
	return out
}

// ForEach visits every key of bucket in order. A key another replica adds
// to the bucket before this transaction commits fails the commit (it runs
// again); so does one it changes or, for a bucket of at most eight keys,
// deletes. A deletion in a larger bucket is not seen by the compare (etcd's
// range compare only sees the keys that exist).
func (t *Tx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	prefix := t.r.s.stateKey(bucket, "")
	for _, kv := range t.scan(prefix) {
		if err := fn(kv.key[len(prefix):], append([]byte{}, kv.val...)); err != nil {
			return err
		}
	}
	return nil
}

// DeletePrefix removes every key of bucket that starts with prefix.
func (t *Tx) DeletePrefix(bucket, prefix string) error {
	if t.r.readOnly {
		return fmt.Errorf("delete %s/%s*: %w", bucket, prefix, ErrReadOnly)
	}
	for _, kv := range t.scan(t.r.s.stateKey(bucket, prefix)) {
		t.own.put(kv.key, write{del: true})
	}
	return nil
}

// Now returns the store's clock reading.
func (t *Tx) Now() time.Time { return t.r.s.now() }

// FencingToken returns the fencing token the commit of this transaction
// is checked against: the CreateRevision of this replica's member key.
// A step claimed in this transaction carries it in its step.started
// record.
func (t *Tx) FencingToken() int64 { return t.r.s.FencingToken() }

// Audit appends a record to the trail. Its sequence, previous hash and
// (monotonic) time are assigned when the transaction commits, against the
// cluster's head, so concurrent replicas build one chain. The redactor
// runs now, before anything is encoded.
func (t *Tx) Audit(rec audit.Record) error {
	if t.r.readOnly {
		return fmt.Errorf("audit: %w", ErrReadOnly)
	}
	s := t.r.s
	if r := s.hooks.redact.Load(); r != nil && rec.Kind != audit.KindCheckpoint {
		rec = (*r)(rec)
	}
	if rec.Time.IsZero() {
		rec.Time = t.Now()
	}
	rec.Time = rec.Time.UTC()
	if rec.Kind == audit.KindStepStarted {
		// The claim's fencing token goes into its record.
		data := make(map[string]any, len(rec.Data)+1)
		for k, v := range rec.Data {
			data[k] = v
		}
		data["fencing_token"] = s.FencingToken()
		data["node"] = s.node
		rec.Data = data
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit: encode %s: %w", rec.Kind, err)
	}
	// The stored value: hash, body, with room for seq and prev.
	size := sha256.Size + len(body) + 2*64 + 3*opOverhead + len(rec.EventID) + len(rec.Playbook) + 3*len(s.prefix) + 60
	t.own.audits = append(t.own.audits, pendingAudit{rec: rec, size: size})
	t.own.bytes += size
	return nil
}

// Finish marks the inbox event seq processed: its pending marker goes. If
// another replica took the event over (this one lost its session), Finish
// fails with ErrFenced; if the marker is gone already (the event was
// finished), it does nothing.
func (t *Tx) Finish(seq uint64) error {
	if t.r.readOnly {
		return fmt.Errorf("finish %d: %w", seq, ErrReadOnly)
	}
	k := t.r.s.key(dirPending + seqName(seq))
	v, ok := t.lookup(k)
	if !ok {
		return nil
	}
	se := t.r.s.current()
	if se == nil || string(v) != se.owner {
		return fmt.Errorf("finish event %d owned by %s: %w", seq, v, ErrFenced)
	}
	t.own.put(k, write{del: true})
	t.own.finished = append(t.own.finished, seq)
	return nil
}

// Own fails with ErrFenced unless this replica's session owns the inbox
// event seq or the event is finished: a replica that lost its session
// while it processed an event that another replica has since taken over
// must not commit what it was doing (a step's outcome riding on the next
// step's claim). The marker read becomes a compare of the commit. The
// engine calls it, when its Tx has it, in each commit it makes for an
// inbox event (see the package documentation).
func (t *Tx) Own(seq uint64) error {
	v, ok := t.lookup(t.r.s.key(dirPending + seqName(seq)))
	if !ok {
		return nil
	}
	if se := t.r.s.current(); se == nil || string(v) != se.owner {
		return fmt.Errorf("event %d is owned by %s: %w", seq, v, ErrFenced)
	}
	return nil
}

// rawGet reads any key of the store (not only state) through the
// transaction, for the store's own functions.
func (t *Tx) rawGet(k string) ([]byte, bool) { return t.lookup(k) }

func (t *Tx) rawPut(k string, v []byte) { t.own.put(k, write{val: v}) }

var errReadFailed = errors.New("a read of the transaction failed")
