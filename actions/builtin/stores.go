package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/firebreak/firebreak/actions/firewall"
	"github.com/firebreak/firebreak/engine/state"
)

// State is the store the integrations persist to.
type State interface {
	Update(ctx context.Context, fn func(state.Tx) error) error
	View(ctx context.Context, fn func(state.Tx) error) error
}

const (
	bucketBlocks  = "firewall_blocks"
	bucketThreads = "slack_threads"
)

// blockStore keeps firewall blocks in the store, so a restart re-installs
// the ones still due.
type blockStore struct{ s State }

func (b blockStore) SaveBlock(ctx context.Context, blk firewall.Block) error {
	v, err := json.Marshal(blk)
	if err != nil {
		return fmt.Errorf("save block: %w", err)
	}
	return b.s.Update(ctx, func(tx state.Tx) error { return tx.Put(bucketBlocks, blk.IP.String(), v) })
}

func (b blockStore) DeleteBlock(ctx context.Context, ip netip.Addr) error {
	return b.s.Update(ctx, func(tx state.Tx) error { return tx.Delete(bucketBlocks, ip.String()) })
}

func (b blockStore) ListBlocks(ctx context.Context) ([]firewall.Block, error) {
	var out []firewall.Block
	err := b.s.View(ctx, func(tx state.Tx) error {
		out = out[:0]
		return tx.ForEach(bucketBlocks, func(_ string, v []byte) error {
			var blk firewall.Block
			if err := json.Unmarshal(v, &blk); err != nil {
				return fmt.Errorf("list blocks: %w", err)
			}
			out = append(out, blk)
			return nil
		})
	})
	return out, err
}

// threadStore keeps the first Slack message of each incident, so
// follow-ups after a restart still reply in its thread.
type threadStore struct{ s State }

func (t threadStore) GetThread(ctx context.Context, key string) (string, bool, error) {
	var ts string
	err := t.s.View(ctx, func(tx state.Tx) error {
		ts = string(tx.Get(bucketThreads, key))
		return nil
	})
	return ts, ts != "", err
}

func (t threadStore) PutThread(ctx context.Context, key, ts string) error {
	return t.s.Update(ctx, func(tx state.Tx) error { return tx.Put(bucketThreads, key, []byte(ts)) })
}
