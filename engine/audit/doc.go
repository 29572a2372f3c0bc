// Package audit defines the audit record: one decision of the engine, in the
// form it is written to the hash-chained trail. It is a leaf package shared by
// the engine (which writes records) and the store (which chains and keeps them).
//
// It owns the record's shape, its kinds, the text a checkpoint signs and the
// redactor that runs before a record is hashed. It is a leaf: it must not
// import the engine, the store or any integration, and must not do I/O.
package audit
