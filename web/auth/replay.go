package auth

import (
	"sync"
	"time"
)

// replayCache remembers keys of accepted signed requests until they expire.
// It holds at most max keys; when full it forgets the oldest first, so under
// a flood the protection degrades to the newest max requests rather than
// growing without bound.
type replayCache struct {
	mu    sync.Mutex
	max   int
	exp   map[string]time.Time
	queue []replayEntry // insertion order; queue[head:] is live
	head  int
}

type replayEntry struct {
	key string
	exp time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, exp: make(map[string]time.Time)}
}

// seen reports whether key is remembered and unexpired at now; if not, it
// remembers key until expires.
func (c *replayCache) seen(key string, expires, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.exp[key]; ok && now.Before(e) {
		return true
	}
	// Forget expired keys at the front, then make room.
	for c.head < len(c.queue) && !now.Before(c.queue[c.head].exp) {
		c.pop()
	}
	for len(c.queue)-c.head >= c.max {
		c.pop()
	}
	if c.head > 1024 && c.head > len(c.queue)/2 {
		c.queue = append(c.queue[:0], c.queue[c.head:]...)
		c.head = 0
	}
	c.queue = append(c.queue, replayEntry{key: key, exp: expires})
	c.exp[key] = expires
	return false
}

// forget removes key, so the same request is accepted once more.
func (c *replayCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.exp, key)
}

func (c *replayCache) pop() {
	e := c.queue[c.head]
	c.queue[c.head] = replayEntry{}
	c.head++
	if cur, ok := c.exp[e.key]; ok && cur.Equal(e.exp) {
		delete(c.exp, e.key)
	}
}

// len reports how many keys are remembered.
func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.exp)
}
