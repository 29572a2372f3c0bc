package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"sync"

	"github.com/firebreak/firebreak/engine/event"
)

// ThreadStore remembers, per incident and channel, the timestamp of the
// first message slack.notify posted, so follow-ups reply in its thread.
// Keys come from ThreadKey. Implementations must be safe for concurrent use.
type ThreadStore interface {
	// GetThread returns the thread timestamp stored under key; ok is false
	// when there is none.
	GetThread(ctx context.Context, key string) (ts string, ok bool, err error)
	// PutThread stores ts under key, replacing any previous value.
	PutThread(ctx context.Context, key, ts string) error
}

// ThreadKey returns the thread store key for ev's incident in channel, or ""
// when ev identifies no incident. An incident is the event's fingerprint
// (stable across firing and resolved notifications) or, failing that, a hash
// of its source, name and labels. The channel is part of the key because a
// thread timestamp only means something in the channel it was posted to.
func ThreadKey(channel string, ev *event.Event) string {
	if ev == nil || channel == "" {
		return ""
	}
	if ev.Fingerprint != "" {
		return "slack/" + channel + "/fp/" + ev.Fingerprint
	}
	if ev.Name == "" && len(ev.Labels) == 0 {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(ev.Source))
	h.Write([]byte{0})
	h.Write([]byte(ev.Name))
	keys := make([]string, 0, len(ev.Labels))
	for k := range ev.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{'='})
		h.Write([]byte(ev.Labels[k]))
	}
	return "slack/" + channel + "/labels/" + hex.EncodeToString(h.Sum(nil)[:16])
}

// DefaultMemoryThreads is how many threads a MemoryThreads keeps when
// created with a limit of zero.
const DefaultMemoryThreads = 10000

// MemoryThreads is a ThreadStore in memory. It forgets the oldest thread
// once it holds its limit, and everything on restart (follow-ups then start
// a new thread).
type MemoryThreads struct {
	mu    sync.Mutex
	limit int
	ts    map[string]string
	order []string // insertion order, for eviction
}

// NewMemoryThreads returns an empty MemoryThreads holding at most limit
// threads; zero or less means DefaultMemoryThreads.
func NewMemoryThreads(limit int) *MemoryThreads {
	if limit <= 0 {
		limit = DefaultMemoryThreads
	}
	return &MemoryThreads{limit: limit, ts: map[string]string{}}
}

// GetThread implements ThreadStore.
func (m *MemoryThreads) GetThread(_ context.Context, key string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts, ok := m.ts[key]
	return ts, ok, nil
}

// PutThread implements ThreadStore.
func (m *MemoryThreads) PutThread(_ context.Context, key, ts string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.ts[key]; !ok {
		m.order = append(m.order, key)
	}
	m.ts[key] = ts
	for len(m.ts) > m.limit && len(m.order) > 0 {
		delete(m.ts, m.order[0])
		m.order = m.order[1:]
	}
	return nil
}

// Len returns the number of threads held.
func (m *MemoryThreads) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ts)
}
