// Package keylock serialises work per key (one incident's Slack thread, one
// approval's message) without keeping a lock around for every key ever
// seen. It is a leaf package: the standard library only.
//
// It must not import anything of the project nor know what its keys mean.
package keylock
