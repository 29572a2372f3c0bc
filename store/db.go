package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

// Bucket names.
var (
	bucketInbox   = []byte("inbox")   // seq → event JSON
	bucketPending = []byte("pending") // seq → nil: accepted, not yet processed
	bucketSeen    = []byte("seen")    // event id → seq (idempotency keys)
	bucketRaw     = []byte("raw")     // seq of a request's first event → its body, when several events share it
	bucketAudit   = []byte("audit")   // seq → sha256(body) ‖ body, packed (auditcodec.go)
	bucketMeta    = []byte("meta")    // small facts: audit head …
	bucketState   = []byte("state")   // nested buckets of guard, step and approval state
)

// Options tune the store.
type Options struct {
	// MaxBatch bounds how many queued transaction functions share one commit.
	// The default is 1024.
	MaxBatch int
	// NoSync skips fsync. Only for tests and benchmarks of other layers: a
	// crash can lose acknowledged data.
	NoSync bool
	// Now is the clock; the default is time.Now.
	Now func() time.Time
	// ReadOnly opens the file for reading only (CLI inspection).
	ReadOnly bool
	// LockTimeout bounds the wait for the file lock (default 5s).
	LockTimeout time.Duration
	// WAL acknowledges accepted events once they are in the write-ahead
	// log beside the file (walinbox.go) instead of after the file's own
	// commit. Off, a log a previous run left is still recovered at Open
	// (and then removed), so turning it off never loses an event.
	WAL bool

	walSegmentSize int64 // tests: smaller log segments
}

// DB is the bbolt store. It is safe for concurrent use.
type DB struct {
	bolt *bolt.DB
	opts Options
	path string

	ops       chan *op
	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{}

	commits   uint64 // number of bolt commits by the group-commit loop
	committed uint64 // number of functions committed
	statsMu   sync.Mutex

	hooks auditHooks // the audit redactor and AuditObserver (audithooks.go)

	prealloc *preallocator // used by the commit loop only

	health commitHealth // the last failed commit, for Ready

	// handoff holds the events this process appended until its engine
	// loads them (Event), so that needs no read and no decode.
	handoff Handoff

	// wal is the write-ahead inbox (nil without Options.WAL).
	wal *walInbox

	// plainAudit stores audit records without packRecord, as files written
	// before the codec hold them (tests of mixed files only).
	plainAudit bool
}

type op struct {
	fn   func(state.Tx) error
	done chan error
	// probe marks Ready's write: its success alone does not prove that
	// real work commits (a full disk may still take one small page).
	probe bool
}

// readyHold is how long after a failed commit Ready reports not-ready
// unless real work commits again. After it, Ready's own probe decides, so
// a store that recovered while no work arrived becomes ready again.
const readyHold = 30 * time.Second

// commitHealth remembers the last commit that failed, until work commits.
type commitHealth struct {
	mu  sync.Mutex
	err error
	at  time.Time
}

// Open opens (creating if needed) the database file at path.
func Open(path string, opts Options) (*DB, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync, NoFreelistSync: true, ReadOnly: opts.ReadOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if opts.ReadOnly {
		// Events accepted into the write-ahead log but not yet moved into
		// the file are not in it: a read-only reader would miss them.
		var n int
		err := b.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketMeta) == nil {
				return nil
			}
			var err error
			n, err = unmovedWAL(path, tx)
			return err
		})
		if err == nil && n > 0 {
			err = fmt.Errorf("%w: its write-ahead log %s holds %d accepted event(s) not yet moved into the file (the last run did not stop cleanly); start firebreak once (serve, or any command that opens the store for writing) to move them", ErrWALUnmoved, walDir(path), n)
		}
		if err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		d := &DB{bolt: b, opts: opts, path: path, closing: make(chan struct{}), done: make(chan struct{})}
		close(d.done)
		return d, nil
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketInbox, bucketPending, bucketSeen, bucketRaw, bucketAudit, bucketMeta, bucketState} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return ensureAuditIndex(tx)
	})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	d := &DB{
		bolt:    b,
		opts:    opts,
		path:    path,
		ops:     make(chan *op, opts.MaxBatch),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if !opts.NoSync {
		d.prealloc = newPreallocator(path)
	}
	go d.loop()
	if opts.WAL || fileExists(walDir(path)) {
		if err := d.openWAL(); err != nil {
			_ = d.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	if !opts.WAL && d.wal != nil {
		// Recovered what a run with the log left; without it, the log
		// goes: everything it held is in the file now.
		d.closeWAL()
		d.wal = nil
		if err := os.RemoveAll(walDir(path)); err != nil {
			_ = d.Close()
			return nil, fmt.Errorf("open store %s: remove the write-ahead log: %w", path, err)
		}
	}
	return d, nil
}

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

// Close stops the commit loop, after committing what is queued, and closes
// the file.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		// Accepted events first: the mover needs the commit loop.
		d.closeWAL()
		close(d.closing)
	})
	<-d.done
	if d.prealloc != nil {
		d.prealloc.close()
	}
	return d.bolt.Close()
}

// Update runs fn in a write transaction shared with other queued callers and
// returns after the transaction is durable. fn may run more than once and
// must touch nothing but tx.
func (d *DB) Update(ctx context.Context, fn func(state.Tx) error) error {
	return d.update(ctx, &op{fn: fn, done: make(chan error, 1)})
}

func (d *DB) update(ctx context.Context, o *op) error {
	if d.opts.ReadOnly {
		return ErrReadOnly
	}
	select {
	case <-d.closing:
		return ErrClosed
	default:
	}
	select {
	case d.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.closing:
		return ErrClosed
	}
	// Once queued the function will be committed or fail; wait for the answer
	// even if ctx ends, so a caller never mistakes a commit for a loss.
	return <-o.done
}

// View runs fn in a read-only transaction.
func (d *DB) View(_ context.Context, fn func(state.Tx) error) error {
	return d.bolt.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, db: d}) })
}

// CommitStats reports how many commits the loop made and how many functions
// they carried; their ratio is the group-commit factor.
func (d *DB) CommitStats() (commits, functions uint64) {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	return d.commits, d.committed
}

func (d *DB) loop() {
	defer close(d.done)
	batch := make([]*op, 0, d.opts.MaxBatch)
	for {
		select {
		case o := <-d.ops:
			batch = append(batch[:0], o)
		drain:
			for len(batch) < d.opts.MaxBatch {
				select {
				case o := <-d.ops:
					batch = append(batch, o)
				default:
					break drain
				}
			}
			d.commit(batch)
		case <-d.closing:
			for {
				select {
				case o := <-d.ops:
					d.commit([]*op{o})
				default:
					return
				}
			}
		}
	}
}

type batchError struct {
	index int
	err   error
}

func (e *batchError) Error() string { return e.err.Error() }

// commit runs the batch in one transaction. If one function fails, it is
// answered with its error and the others are committed without it.
func (d *DB) commit(batch []*op) {
	for len(batch) > 0 {
		var tx *Tx
		err := d.bolt.Update(func(btx *bolt.Tx) error {
			tx = &Tx{tx: btx, db: d}
			for i, o := range batch {
				if err := o.fn(tx); err != nil {
					return &batchError{index: i, err: err}
				}
			}
			return nil
		})
		var be *batchError
		if errors.As(err, &be) {
			batch[be.index].done <- be.err
			batch = append(batch[:be.index:be.index], batch[be.index+1:]...)
			continue
		}
		if err == nil {
			d.afterCommit(tx)
		}
		d.noteCommit(batch, err)
		var hwm int64
		if err == nil {
			// Read the size after the commit: the commit itself allocates
			// pages, and zeroing from a size taken before it would
			// overwrite them.
			_ = d.bolt.View(func(btx *bolt.Tx) error { hwm = btx.Size(); return nil })
		}
		d.statsMu.Lock()
		d.commits++
		d.committed += uint64(len(batch))
		d.statsMu.Unlock()
		for _, o := range batch {
			o.done <- err
		}
		// After answering: the callers do not wait for the zeroing.
		if hwm > 0 && d.prealloc != nil {
			// A failure only disables preallocation: bbolt grows the
			// file itself as before.
			_ = d.prealloc.ensure(hwm)
		}
		return
	}
}

// Tx is a transaction handed to Update or View functions; it implements
// state.Tx.
type Tx struct {
	tx *bolt.Tx
	db *DB
	// audited holds the records written, reported after the commit.
	audited []audit.Record
	// signed holds the signed checkpoints written, reported after the commit.
	signed []audit.SignedCheckpoint
	// entries holds the audit-index entries this transaction started, by
	// index and value, with the sequence each is keyed by (auditindex.go).
	entries map[indexed]uint64
}

// Now returns the store's clock reading.
func (t *Tx) Now() time.Time { return t.db.opts.Now() }

func (t *Tx) stateBucket(name string, create bool) (*bolt.Bucket, error) {
	parent := t.tx.Bucket(bucketState)
	if b := parent.Bucket([]byte(name)); b != nil || !create {
		return b, nil
	}
	return parent.CreateBucket([]byte(name))
}

// Get returns a copy of the value at bucket/key in the state namespace, or
// nil when absent.
func (t *Tx) Get(bucket, key string) []byte {
	b, _ := t.stateBucket(bucket, false)
	if b == nil {
		return nil
	}
	v := b.Get([]byte(key))
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

// Put stores value at bucket/key in the state namespace.
func (t *Tx) Put(bucket, key string, value []byte) error {
	b, err := t.stateBucket(bucket, true)
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return b.Put([]byte(key), value)
}

// Delete removes bucket/key from the state namespace.
func (t *Tx) Delete(bucket, key string) error {
	b, _ := t.stateBucket(bucket, false)
	if b == nil {
		return nil
	}
	return b.Delete([]byte(key))
}

// DeletePrefix removes every key of bucket that starts with prefix.
func (t *Tx) DeletePrefix(bucket, prefix string) error {
	b, _ := t.stateBucket(bucket, false)
	if b == nil {
		return nil
	}
	pre := []byte(prefix)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("delete %s/%s: %w", bucket, k, err)
		}
	}
	return nil
}

// ForEach calls fn for every key in bucket, in key order, with copies of key
// and value. It stops at the first error fn returns.
func (t *Tx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	b, _ := t.stateBucket(bucket, false)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		return fn(string(k), append([]byte(nil), v...))
	})
}

type boltTx = bolt.Tx

var _ state.Tx = (*Tx)(nil)

// noteCommit records the outcome of a commit for Ready: a failure is
// remembered; a success clears it when it carried real work, or when
// readyHold has passed since the failure.
func (d *DB) noteCommit(batch []*op, err error) {
	h := &d.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.err, h.at = err, d.opts.Now()
		return
	}
	if h.err == nil {
		return
	}
	for _, o := range batch {
		if !o.probe {
			h.err = nil
			return
		}
	}
	if d.opts.Now().Sub(h.at) >= readyHold {
		h.err = nil
	}
}

// Ready checks that the store accepts a write: it fails with
// ErrCommitFailing while commits of real work fail (a full disk may still
// take the probe's one small page), and otherwise commits a probe.
func (d *DB) Ready(ctx context.Context) error {
	h := &d.health
	h.mu.Lock()
	err, at := h.err, h.at
	h.mu.Unlock()
	if err != nil && d.opts.Now().Sub(at) < readyHold {
		return fmt.Errorf("%w: %w", ErrCommitFailing, err)
	}
	if d.wal != nil {
		if err := d.wal.health(d.opts.Now()); err != nil {
			return fmt.Errorf("%w: write-ahead log: %w", ErrCommitFailing, err)
		}
	}
	return d.update(ctx, &op{fn: func(tx state.Tx) error { return tx.Put("health", "ready", []byte("1")) }, done: make(chan error, 1), probe: true})
}
