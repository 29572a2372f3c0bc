// Package clustertest holds the clustered-mode tests with real processes
// (issue 15): a 3-member etcd cluster started in the test process with
// go.etcd.io/etcd/server/v3/embed on loopback, and Firebreak replicas as
// separate OS processes of the firebreak binary, built once per run, so
// that one can be killed with SIGKILL. It has no code of its own.
package clustertest
