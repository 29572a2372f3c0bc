// Package etcdtest starts a real one-member etcd inside a test process, on
// loopback ports the kernel picks, for tests that need the real server
// (store/etcd, the clustered app, the dashboard on etcd). It runs without
// fsync: the data is disposable. Tests that need several members, members
// stopped and restarted, or TLS start their own.
package etcdtest

import (
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// One starts a one-member etcd in a temporary directory of t and returns
// its client URL; it stops when t ends. mutate, when not nil, changes the
// member's configuration before it starts (a request size limit, TLS for
// its clients on an https:// listen URL, say). Its log goes to etcd.log in
// that directory.
func One(t testing.TB, mutate func(*embed.Config)) string {
	t.Helper()
	dir := t.TempDir()
	cfg := embed.NewConfig()
	cfg.Name = "one"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	// Port 0 everywhere: a lone member needs no peer to know its address
	// in advance, so there is no window in which another process can take
	// a port picked for it.
	u := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{u}, []url.URL{u}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{u}, []url.URL{u}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	if mutate != nil {
		mutate(cfg)
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("etcd: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready after 30s")
	}
	return cfg.ListenClientUrls[0].Scheme + "://" + e.Clients[0].Addr().String()
}
