package etcd

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

// The audit trail's keys: audit/<seq, 20 digits> holds sha256(body) ‖ body
// exactly as the bbolt store does (so a migrated trail verifies the same),
// audit/head the chain's head, and auditidx/{event,playbook}/<value>\x00<seq>
// the indexes.
const (
	dirAudit      = "audit/"
	keyAuditHead  = "audit/head"
	dirAuditIdx   = "auditidx/"
	idxEvent      = "event/"
	idxPlaybook   = "playbook/"
	keyCheckpoint = "meta/audit_checkpoint"
)

func auditName(seq uint64) string { return dirAudit + seqName(seq) }

// auditFirst and auditEnd bound the record keys (audit/head sorts after).
func (s *Store) auditFirst() string { return s.key(dirAudit + "0") }
func (s *Store) auditEnd() string   { return s.key(dirAudit + ":") }

func indexCount(r *audit.Record) int {
	n := 0
	if r.EventID != "" {
		n++
	}
	if r.Playbook != "" {
		n++
	}
	return n
}

func (s *Store) indexPrefix(field, value string) string {
	return s.key(dirAuditIdx + field + value + "\x00")
}

// headState is the chain's head: the newest record's sequence, hash and
// time, the kept bytes and the newest signed checkpoint's sequence.
type headState struct {
	Seq    uint64 `json:"seq"`
	Hash   string `json:"hash"`
	Time   int64  `json:"time"`
	Bytes  int64  `json:"bytes"`
	Signed uint64 `json:"signed"`
	// modRev is the head key's ModRevision (0: the key does not exist).
	modRev int64
}

func (h headState) compare(k string) clientv3.Cmp {
	if h.modRev == 0 {
		return clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
	}
	return clientv3.Compare(clientv3.ModRevision(k), "=", h.modRev)
}

func (h headState) prevBytes() []byte {
	b, err := hex.DecodeString(h.Hash)
	if err != nil || len(b) != sha256.Size {
		return make([]byte, sha256.Size)
	}
	return b
}

func decodeHead(kvs []*mvccpb.KeyValue) (headState, error) {
	if len(kvs) == 0 {
		return headState{}, nil
	}
	var h headState
	if err := json.Unmarshal(kvs[0].Value, &h); err != nil {
		return headState{}, fmt.Errorf("audit head: %v: %w", err, audit.ErrChainBroken)
	}
	h.modRev = kvs[0].ModRevision
	return h, nil
}

// headCache is the update loop's view of the head, so that a replica
// auditing alone needs no read before each commit.
type headCache struct {
	mu    sync.Mutex
	h     headState
	known bool
}

func (c *headCache) forget() { c.mu.Lock(); c.known = false; c.mu.Unlock() }

func (c *headCache) set(kvs []*mvccpb.KeyValue) {
	h, err := decodeHead(kvs)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.h, c.known = h, err == nil
}

func (c *headCache) committed(h headState, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.modRev = rev
	c.h, c.known = h, true
}

func (s *Store) auditHead(ctx context.Context) (headState, error) {
	s.head.mu.Lock()
	h, ok := s.head.h, s.head.known
	s.head.mu.Unlock()
	if ok {
		return h, nil
	}
	gctx, cancel := s.reqCtx(ctx)
	resp, err := s.cli.Get(gctx, s.key(keyAuditHead))
	cancel()
	if err != nil {
		return headState{}, fmt.Errorf("read audit head: %w", err)
	}
	s.head.set(resp.Kvs)
	h, err = decodeHead(resp.Kvs)
	return h, err
}

// chained is a round's audit records with their place in the chain.
type chained struct {
	ops    []clientv3.Op
	head   headState
	recs   []audit.Record
	signed []audit.SignedCheckpoint
	// now is the checkpoint SignCheckpoint asked for, if one was made.
	now *audit.SignedCheckpoint
}

// chain gives the records of e their sequences, previous hashes and times
// after h, with the signed checkpoints that fall due, and returns the
// operations that store them, their index entries and the new head.
func (s *Store) chain(h headState, e *effects) (chained, error) {
	c := chained{head: h}
	c.head.Bytes = max(c.head.Bytes+e.auditBytes, 0)
	sg := s.hooks.signer.Load()
	observe := s.hooks.observer.Load() != nil
	var appendRec func(rec audit.Record) error
	sign := func(seq uint64, sum string) error {
		cp := audit.SignedCheckpoint{Seq: seq, Hash: sum, Time: s.now().UTC(), Every: sg.every, KeyID: sg.id}
		cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(sg.key, cp.Message()))
		if err := appendRec(audit.Record{
			Kind:    audit.KindCheckpoint,
			Outcome: store.CheckpointSigned,
			Message: fmt.Sprintf("signed checkpoint of record %d", seq),
			Data: map[string]any{
				"seq": cp.Seq, "hash": cp.Hash, "time": cp.Time.Format(time.RFC3339Nano),
				"every": cp.Every, "key_id": cp.KeyID, "signature": cp.Signature,
			},
		}); err != nil {
			return err
		}
		c.head.Signed = c.head.Seq
		c.signed = append(c.signed, cp)
		return nil
	}
	appendRec = func(rec audit.Record) error {
		rec.Seq = c.head.Seq + 1
		rec.Prev = hex.EncodeToString(c.head.prevBytes())
		if rec.Time.IsZero() {
			rec.Time = s.now()
		}
		rec.Time = rec.Time.UTC()
		if lt := time.Unix(0, c.head.Time).UTC(); c.head.Time != 0 && rec.Time.Before(lt) {
			rec.Time = lt
		}
		val, err := audit.Seal(&rec)
		if err != nil {
			return err
		}
		c.ops = append(c.ops, clientv3.OpPut(s.key(auditName(rec.Seq)), string(val)))
		if rec.EventID != "" {
			c.ops = append(c.ops, clientv3.OpPut(s.indexPrefix(idxEvent, rec.EventID)+seqName(rec.Seq), ""))
		}
		if rec.Playbook != "" {
			c.ops = append(c.ops, clientv3.OpPut(s.indexPrefix(idxPlaybook, rec.Playbook)+seqName(rec.Seq), ""))
		}
		c.head.Seq, c.head.Hash, c.head.Time = rec.Seq, hex.EncodeToString(val[:sha256.Size]), rec.Time.UnixNano()
		c.head.Bytes += int64(len(val))
		if observe {
			c.recs = append(c.recs, rec)
		}
		if sg != nil && rec.Kind != audit.KindCheckpoint && (c.head.Signed == 0 || rec.Seq-c.head.Signed >= uint64(sg.every)) {
			return sign(rec.Seq, c.head.Hash)
		}
		return nil
	}
	for _, a := range e.audits {
		if err := appendRec(a.rec); err != nil {
			return chained{}, err
		}
	}
	if len(e.signNow) > 0 && sg != nil && c.head.Seq != 0 && c.head.Signed != c.head.Seq {
		if err := sign(c.head.Seq, c.head.Hash); err != nil {
			return chained{}, err
		}
		c.now = &c.signed[len(c.signed)-1]
	}
	hv, err := json.Marshal(c.head)
	if err != nil {
		return chained{}, err
	}
	c.ops = append(c.ops, clientv3.OpPut(s.key(keyAuditHead), string(hv)))
	return c, nil
}

// auditHooks are the optional redactor, observer, checkpoint signer and
// signed-checkpoint hook, set once at wiring time and read atomically.
type auditHooks struct {
	redact   atomic.Pointer[func(audit.Record) audit.Record]
	observer atomic.Pointer[store.AuditObserver]
	signer   atomic.Pointer[signer]
	signed   atomic.Pointer[func(audit.SignedCheckpoint)]
}

type signer struct {
	key   ed25519.PrivateKey
	id    string
	every int
}

// SetRedactor installs fn, which every audit record passes through before
// it is encoded: what fn removes never reaches etcd. fn must be cheap and
// deterministic (a transaction function may run more than once).
func (s *Store) SetRedactor(fn func(audit.Record) audit.Record) { s.hooks.redact.Store(&fn) }

// SetAuditObserver installs o, told of every audit record this replica
// committed, after the commit.
func (s *Store) SetAuditObserver(o store.AuditObserver) { s.hooks.observer.Store(&o) }

// SetSigner installs the key that signs checkpoints: after every `every`
// records (store.DefaultCheckpointEvery when 0) of the cluster's chain, the
// replica whose commit reaches the count appends a signed checkpoint in the
// same transaction. Every replica should have the same key.
func (s *Store) SetSigner(key ed25519.PrivateKey, every int) {
	if every <= 0 {
		every = store.DefaultCheckpointEvery
	}
	pub, _ := key.Public().(ed25519.PublicKey)
	s.hooks.signer.Store(&signer{key: key, id: audit.KeyID(pub), every: every})
}

// OnCheckpointSigned installs fn, called after the commit of every
// transaction of this replica that wrote a signed checkpoint.
func (s *Store) OnCheckpointSigned(fn func(audit.SignedCheckpoint)) { s.hooks.signed.Store(&fn) }

func (s *Store) afterCommit(c chained) {
	if o := s.hooks.observer.Load(); o != nil {
		for _, r := range c.recs {
			(*o).AuditWritten(r)
		}
	}
	if fn := s.hooks.signed.Load(); fn != nil {
		for _, cp := range c.signed {
			(*fn)(cp)
		}
	}
}

// SignCheckpoint writes a signed checkpoint of the newest record now,
// unless the newest record already is one (nothing new to anchor). It
// returns the checkpoint written, or nil. It needs SetSigner.
func (s *Store) SignCheckpoint(ctx context.Context) (*audit.SignedCheckpoint, error) {
	if s.hooks.signer.Load() == nil {
		return nil, fmt.Errorf("sign checkpoint: no signing key is set")
	}
	req := &signReq{}
	err := s.Update(ctx, func(stx state.Tx) error {
		stx.(*Tx).own.signNow = append(stx.(*Tx).own.signNow[:0], req)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return req.out, nil
}

// signReq is a SignCheckpoint call riding on a round; out is set once
// the round committed.
type signReq struct{ out *audit.SignedCheckpoint }

func (s *Store) readHead(ctx context.Context) (headState, error) {
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key(keyAuditHead))
	if err != nil {
		return headState{}, fmt.Errorf("read audit head: %w", err)
	}
	return decodeHead(resp.Kvs)
}

// Audit writes records to the trail in one group-committed transaction.
func (s *Store) Audit(ctx context.Context, recs ...audit.Record) error {
	return s.Update(ctx, func(tx state.Tx) error {
		for _, r := range recs {
			if err := tx.Audit(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditBytes returns the stored size of the kept audit records.
func (s *Store) AuditBytes(ctx context.Context) (int64, error) {
	h, err := s.readHead(ctx)
	return h.Bytes, err
}

func parseSeqKey(k, prefix string) (uint64, bool) {
	if len(k) < len(prefix)+20 {
		return 0, false
	}
	v, err := strconv.ParseUint(k[len(k)-20:], 10, 64)
	return v, err == nil
}
