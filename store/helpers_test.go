package store

import (
	"crypto/sha256"
	"strings"
)

// replaceOnce replaces the first old in s with new.
func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }

// sum returns the SHA-256 of b.
func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// contains reports whether sub is in s.
func contains(s, sub string) bool { return strings.Contains(s, sub) }

// sealedOf returns a copy of the sealed form (sha256 ‖ JSON) of a stored
// audit value, for tests that read or edit records in the file; it panics
// on a value that does not unpack.
func sealedOf(stored []byte) []byte {
	v, err := unpackRecord(stored, nil)
	if err != nil {
		panic(err)
	}
	return append([]byte(nil), v...)
}
