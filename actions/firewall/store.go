package firewall

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Block is one recorded block: what Restore needs to re-install it with its
// remaining time, and what an operator needs to know why it is there.
type Block struct {
	// IP is the blocked address (IPv4 addresses are never 4-in-6 mapped).
	IP netip.Addr `json:"ip"`
	// Reason is the free text given with the block.
	Reason string `json:"reason,omitempty"`
	// CreatedAt is when the block was (last) installed.
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the kernel drops the element by itself.
	ExpiresAt time.Time `json:"expires_at"`
	// Playbook and EventID name what asked for the block, when known.
	Playbook string `json:"playbook,omitempty"`
	EventID  string `json:"event_id,omitempty"`
}

// BlockStore records blocks so that they survive a restart. Implementations
// must be safe for concurrent use. SaveBlock replaces any block for the same
// IP; DeleteBlock of an IP that has no block is not an error.
type BlockStore interface {
	SaveBlock(ctx context.Context, b Block) error
	DeleteBlock(ctx context.Context, ip netip.Addr) error
	ListBlocks(ctx context.Context) ([]Block, error)
}

// MemoryStore is a BlockStore held in memory, for tests and for a process
// that does not need blocks to survive a restart.
type MemoryStore struct {
	mu     sync.Mutex
	blocks map[netip.Addr]Block
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{blocks: map[netip.Addr]Block{}}
}

// SaveBlock records b, replacing any block for the same IP.
func (s *MemoryStore) SaveBlock(ctx context.Context, b Block) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks[b.IP] = b
	return nil
}

// DeleteBlock forgets the block for ip, if any.
func (s *MemoryStore) DeleteBlock(ctx context.Context, ip netip.Addr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blocks, ip)
	return nil
}

// ListBlocks returns every recorded block, ordered by IP.
func (s *MemoryStore) ListBlocks(ctx context.Context) ([]Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Block, 0, len(s.blocks))
	for _, b := range s.blocks {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Block) int { return a.IP.Compare(b.IP) })
	return out, nil
}
