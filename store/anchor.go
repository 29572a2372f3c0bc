package store

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

// keyAuditSigned holds the sequence of the newest signed checkpoint record
// (meta bucket), so that Audit knows when the next one is due.
var keyAuditSigned = []byte("audit_signed")

// Outcomes of audit.KindCheckpoint records: a retention checkpoint names
// the last record compacted away; a signed checkpoint anchors the chain.
const (
	CheckpointCompacted = "compacted"
	CheckpointSigned    = "signed"
)

// DefaultCheckpointEvery is how many records may follow a signed
// checkpoint before the next one is written, when SetSigner is given 0.
const DefaultCheckpointEvery = 1000

// signer is the installed checkpoint key (SetSigner).
type signer struct {
	key   ed25519.PrivateKey
	id    string
	every int
}

// SetSigner installs the key that signs checkpoints: after every `every`
// records (DefaultCheckpointEvery when 0) Audit appends a signed checkpoint
// in the same transaction, and SignCheckpoint writes one on demand. It is
// set once at wiring time, before the store is written to.
func (d *DB) SetSigner(key ed25519.PrivateKey, every int) {
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	pub, _ := key.Public().(ed25519.PublicKey)
	d.hooks.signer.Store(&signer{key: key, id: audit.KeyID(pub), every: every})
}

// OnCheckpointSigned installs fn, called after the commit of every
// transaction that wrote a signed checkpoint (to hand it to the witnesses).
// It runs on the commit loop, so it must be cheap and must not block.
func (d *DB) OnCheckpointSigned(fn func(audit.SignedCheckpoint)) {
	d.hooks.signed.Store(&fn)
}

// SignCheckpoint writes a signed checkpoint of the newest record now,
// unless the newest record already is one (nothing new to anchor). It
// returns the checkpoint written, or nil. It needs SetSigner.
func (d *DB) SignCheckpoint(ctx context.Context) (*audit.SignedCheckpoint, error) {
	if d.hooks.signer.Load() == nil {
		return nil, fmt.Errorf("sign checkpoint: no signing key is set")
	}
	var out *audit.SignedCheckpoint
	err := d.Update(ctx, func(stx state.Tx) error {
		tx := stx.(*Tx)
		out = nil
		meta := tx.tx.Bucket(bucketMeta)
		head := meta.Get(keyAuditHead)
		if len(head) != 8+sha256.Size {
			return nil // an empty trail: nothing to anchor
		}
		if s := meta.Get(keyAuditSigned); len(s) == 8 && btoi(s) == btoi(head[:8]) {
			return nil
		}
		cp, err := tx.signCheckpoint(btoi(head[:8]), head[8:])
		out = cp
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return out, nil
}

// checkpointDue reports whether a signed checkpoint must follow the record
// at seq: when none was ever signed, or `every` records followed the last.
func (t *Tx) checkpointDue(s *signer, seq uint64) bool {
	last := t.tx.Bucket(bucketMeta).Get(keyAuditSigned)
	return len(last) != 8 || seq-btoi(last) >= uint64(s.every)
}

// signCheckpoint signs (seq, sum) and appends the checkpoint record.
func (t *Tx) signCheckpoint(seq uint64, sum []byte) (*audit.SignedCheckpoint, error) {
	s := t.db.hooks.signer.Load()
	cp := audit.SignedCheckpoint{Seq: seq, Hash: hex.EncodeToString(sum), Time: t.Now().UTC(), Every: s.every, KeyID: s.id}
	cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, cp.Message()))
	err := t.Audit(audit.Record{
		Kind:    audit.KindCheckpoint,
		Outcome: CheckpointSigned,
		Message: fmt.Sprintf("signed checkpoint of record %d", seq),
		Data: map[string]any{
			"seq": cp.Seq, "hash": cp.Hash, "time": cp.Time.Format(time.RFC3339Nano),
			"every": cp.Every, "key_id": cp.KeyID, "signature": cp.Signature,
		},
	})
	if err != nil {
		return nil, err
	}
	meta := t.tx.Bucket(bucketMeta)
	if err := meta.Put(keyAuditSigned, meta.Get(keyAuditHead)[:8]); err != nil {
		return nil, err
	}
	if t.db.hooks.signed.Load() != nil {
		t.signed = append(t.signed, cp)
	}
	return &cp, nil
}
