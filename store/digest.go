package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	bolt "go.etcd.io/bbolt"
)

// Digest returns a SHA-256 over every bucket, key and value in the file,
// nested buckets included, in key order. Two equal digests mean equal
// contents; tests use it to prove that a read-only operation (replay)
// changed nothing while the server holds the file.
func (d *DB) Digest(_ context.Context) (string, error) {
	h := sha256.New()
	write := func(tag byte, b []byte) {
		var n [9]byte
		n[0] = tag
		binary.BigEndian.PutUint64(n[1:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					write('B', k)
					write('S', binary.BigEndian.AppendUint64(nil, nb.Sequence()))
					if err := walk(nb); err != nil {
						return err
					}
					write('E', nil)
					return nil
				}
			}
			write('K', k)
			write('V', v)
			return nil
		})
	}
	err := d.bolt.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			write('B', name)
			write('S', binary.BigEndian.AppendUint64(nil, b.Sequence()))
			if err := walk(b); err != nil {
				return err
			}
			write('E', nil)
			return nil
		})
	})
	return hex.EncodeToString(h.Sum(nil)), err
}
