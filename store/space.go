package store

import (
	"context"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Space is how the database file's bytes are used.
type Space struct {
	// File is the file's size, preallocated margin included.
	File int64
	// HighWater is bbolt's data size: the pages up to the highest one in
	// use or free; the rest of File is zeroed margin (prealloc.go).
	HighWater int64
	// Free is the bytes of free pages below HighWater, reused by later
	// commits before the file grows.
	Free int64
	// InUse is the bytes of keys, values and page headers in every
	// bucket's pages, nested buckets included.
	InUse int64
	// Buckets is InUse by top-level bucket.
	Buckets map[string]int64
}

// Space measures the file's use (a read transaction over every bucket's
// pages, so it costs about a full scan; benchmarks and tools, not the hot
// path).
func (d *DB) Space(ctx context.Context) (Space, error) {
	if err := d.syncInbox(ctx); err != nil {
		return Space{}, err
	}
	s := Space{Buckets: map[string]int64{}}
	err := d.bolt.View(func(tx *bolt.Tx) error {
		s.HighWater = tx.Size()
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			st := b.Stats() // nested buckets included
			n := int64(st.BranchInuse + st.LeafInuse)
			s.Buckets[string(name)] = n
			s.InUse += n
			return nil
		})
	})
	if err != nil {
		return Space{}, fmt.Errorf("space: %w", err)
	}
	st := d.bolt.Stats()
	s.Free = int64(st.FreePageN) * int64(d.bolt.Info().PageSize)
	fi, err := os.Stat(d.path)
	if err != nil {
		return Space{}, fmt.Errorf("space: %w", err)
	}
	s.File = fi.Size()
	return s, nil
}
