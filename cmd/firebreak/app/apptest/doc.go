// Package apptest helps tests run the whole Firebreak server in-process: a
// temp data directory, a playbook directory, a random port, and an HTTP sink
// that records what webhook.notify steps sent.
//
// It is for tests only: production code must not import it, and everything
// it starts listens on 127.0.0.1 and lives in t.TempDir().
package apptest
