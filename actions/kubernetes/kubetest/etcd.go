package kubetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// etcdServer is an etcd embedded in the test process, on loopback ports the
// kernel picks, without fsync: fast, and disposable by design.
type etcdServer struct {
	e   *embed.Etcd
	dir string
	url string
}

func startEtcd(ctx context.Context, dir string) (*etcdServer, error) {
	cfg := embed.NewConfig()
	cfg.Name = "kubetest"
	cfg.Dir = dir
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	u := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{u}
	cfg.AdvertiseClientUrls = []url.URL{u}
	cfg.ListenPeerUrls = []url.URL{u}
	cfg.AdvertisePeerUrls = []url.URL{u}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("kubetest: start etcd: %w", err)
	}
	s := &etcdServer{e: e, dir: dir}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		s.stop()
		return nil, fmt.Errorf("kubetest: etcd: %w", err)
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("kubetest: etcd not ready after 30s")
	case <-ctx.Done():
		s.stop()
		return nil, fmt.Errorf("kubetest: etcd: %w", ctx.Err())
	}
	s.url = "http://" + e.Clients[0].Addr().String()
	return s, nil
}

func (s *etcdServer) stop() {
	s.e.Close()
	_ = os.RemoveAll(s.dir)
}
