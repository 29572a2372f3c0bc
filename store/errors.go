package store

import "errors"

// Sentinel errors of the store.
var (
	// ErrClosed is returned by every call made after Close.
	ErrClosed = errors.New("store closed")
	// ErrNotFound is returned when a key, event or record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrLocked is returned by Open when another process (a running
	// server) holds the database file.
	ErrLocked = errors.New("database is in use by another process")
	// ErrWALUnmoved is returned by a read-only open while the write-ahead
	// log holds accepted events the file does not.
	ErrWALUnmoved = errors.New("store has events in its write-ahead log")
	// ErrWALForeign is returned by Open when the write-ahead log beside
	// the file does not continue it (the file was restored from a backup).
	ErrWALForeign = errors.New("store's write-ahead log belongs to another history")
	// ErrReadOnly is returned by writes to a store opened read-only.
	ErrReadOnly = errors.New("store is read-only")
	// ErrCommitFailing is returned by Ready while commits fail.
	ErrCommitFailing = errors.New("commits are failing")
)
