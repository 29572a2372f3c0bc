package engine

import (
	"encoding/json"
	"fmt"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

// DeadLetter receives a step whose execution failed for good — its retries
// were exhausted or the action called the error permanent — inside the
// transaction that records the failure, so the queue and the trail agree.
// It must only write through tx.
type DeadLetter interface {
	DeadLetter(tx state.Tx, p *Plan, failed audit.Record) error
}

// ReleaseFailedClaim removes the claim of a failed step (key as Plan.Key),
// so that running the step again claims it afresh. It refuses a claim in
// any other state: a step that succeeded, is running or was never claimed
// must not run again through a retry.
func ReleaseFailedClaim(tx state.Tx, key string) error {
	raw := tx.Get(bucketSteps, key)
	if raw == nil {
		return fmt.Errorf("step %s: %w", key, ErrNotFailed)
	}
	var c stepClaim
	if err := json.Unmarshal(raw, &c); err != nil || c.Status != claimFailed {
		return fmt.Errorf("step %s is %q: %w", key, c.Status, ErrNotFailed)
	}
	return tx.Delete(bucketSteps, key)
}
