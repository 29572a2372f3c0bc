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
	// ErrReadOnly is returned by writes to a store opened read-only.
	ErrReadOnly = errors.New("store is read-only")
	// ErrCommitFailing is returned by Ready while commits fail.
	ErrCommitFailing = errors.New("commits are failing")
)
