// Package state declares the transaction the engine's guards, step claims
// and approvals run in. The store implements it (bbolt now; an etcd
// implementation can implement the same methods with a software
// transaction). It is a leaf package so the store need not import the engine.
//
// It declares interfaces and plain types only: it must not implement them,
// import the store or the engine, or do I/O.
package state
