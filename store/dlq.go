package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/firebreak/firebreak/engine/state"
)

// bucketDLQ is the dead-letter queue: plan key (event id|playbook|phase|
// step) → DLQEntry JSON, in the state buckets, so that an entry is written
// in the transaction that records the step's failure.
const bucketDLQ = "dlq"

// DLQEntry is a step whose execution failed for good (its retries were
// exhausted, or the action said the error is permanent), kept until an
// operator retries or discards it, or retention removes its event.
type DLQEntry struct {
	// ID is the entry's short name in the API: derived from Key.
	ID string `json:"id"`
	// Key is the step's claim key: event id|playbook|phase|step.
	Key      string `json:"key"`
	EventID  string `json:"event_id"`
	Seq      uint64 `json:"seq"` // the event's inbox sequence
	Playbook string `json:"playbook"`
	Phase    string `json:"phase"`
	Step     int    `json:"step"`
	Action   string `json:"action"`
	Target   string `json:"target,omitempty"`
	// Error is the last attempt's error (as audited, redacted).
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	FailedAt time.Time `json:"failed_at"`
	// Failures counts how often the step landed here (a retry that fails
	// again comes back with the count raised).
	Failures int `json:"failures"`
}

// DLQID returns the entry id of a claim key.
func DLQID(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:8])
}

// PutDLQ adds (or refreshes) e in the queue inside tx.
func PutDLQ(tx state.Tx, e DLQEntry) error {
	e.ID = DLQID(e.Key)
	if old := tx.Get(bucketDLQ, e.Key); old != nil {
		var prev DLQEntry
		if json.Unmarshal(old, &prev) == nil {
			e.Failures = prev.Failures
		}
	}
	e.Failures++
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	return tx.Put(bucketDLQ, e.Key, b)
}

// GetDLQ finds the entry with the given id in tx, or returns an error
// wrapping ErrNotFound.
func GetDLQ(tx state.Tx, id string) (DLQEntry, error) {
	var found *DLQEntry
	err := tx.ForEach(bucketDLQ, func(key string, v []byte) error {
		if found != nil || DLQID(key) != id {
			return nil
		}
		var e DLQEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("dlq entry %s: %w", id, err)
		}
		found = &e
		return nil
	})
	if err != nil {
		return DLQEntry{}, err
	}
	if found == nil {
		return DLQEntry{}, fmt.Errorf("dlq entry %s: %w", id, ErrNotFound)
	}
	return *found, nil
}

// DeleteDLQ removes the entry of the claim key in tx.
func DeleteDLQ(tx state.Tx, key string) error { return tx.Delete(bucketDLQ, key) }

// ForgetDLQ removes the entries of an event (retention removed it, so its
// steps can no longer be retried).
func ForgetDLQ(tx state.Tx, eventID string) error {
	return tx.DeletePrefix(bucketDLQ, eventID+"|")
}

// ListDLQ returns every entry, oldest failure first.
func (d *DB) ListDLQ(ctx context.Context) ([]DLQEntry, error) {
	var out []DLQEntry
	err := d.View(ctx, func(tx state.Tx) error {
		return tx.ForEach(bucketDLQ, func(key string, v []byte) error {
			var e DLQEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("dlq entry %s: %w", strings.SplitN(key, "|", 2)[0], err)
			}
			out = append(out, e)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].FailedAt.Before(out[j].FailedAt) })
	return out, err
}

// DLQCount returns the number of entries (the firebreak_dlq_entries gauge).
func (d *DB) DLQCount(ctx context.Context) (int, error) {
	n := 0
	err := d.View(ctx, func(tx state.Tx) error {
		return tx.ForEach(bucketDLQ, func(string, []byte) error { n++; return nil })
	})
	return n, err
}

// Audit kinds and outcomes of the dead-letter queue.
const (
	// KindDLQRetry records an operator's retry of a dead-lettered step.
	KindDLQRetry = "dlq.retry"
	// KindDLQDiscard records an operator dropping one, with the reason.
	KindDLQDiscard = "dlq.discard"
	// OutcomeRetry is a retry of a step whose event is fresh.
	OutcomeRetry = "retry"
	// OutcomeRetryStale is a retry forced on a stale event's step.
	OutcomeRetryStale = "retry_forced_stale"
	// OutcomeDiscarded is a discarded entry.
	OutcomeDiscarded = "discarded"
)
