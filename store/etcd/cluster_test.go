package etcd_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	fbetcd "github.com/firebreak/firebreak/store/etcd"
)

// cluster is a real three-member etcd cluster in the test process, on
// loopback ports the kernel picked, with its data in a temporary directory.
type cluster struct {
	t       testing.TB
	members []*embed.Etcd
	clients []string // client URL of each member
	stopped []bool
	mu      sync.Mutex
	opened  int
}

// freePort asks the kernel for a free loopback port. Peer URLs must be known
// before any member starts (each is in the others' initial cluster), so
// they cannot be left to port 0.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCluster starts a 3-member cluster. fsync is off in tests (they
// test quorum and transactions, not power loss) and on for benchmarks.
func startCluster(t testing.TB, fsync bool) *cluster {
	t.Helper()
	const n = 3
	dir := t.TempDir()
	names := make([]string, n)
	peers := make([]url.URL, n)
	var initial []string
	for i := range n {
		names[i] = fmt.Sprintf("m%d", i)
		peers[i] = url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		initial = append(initial, names[i]+"="+peers[i].String())
	}
	c := &cluster{t: t, members: make([]*embed.Etcd, n), clients: make([]string, n), stopped: make([]bool, n)}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = names[i]
		cfg.Dir = filepath.Join(dir, names[i])
		cfg.UnsafeNoFsync = !fsync
		cfg.LogLevel = "error"
		// Members log to a file next to their data, not over the test output.
		cfg.LogOutputs = []string{filepath.Join(dir, names[i]+".log")}
		client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		cfg.ListenClientUrls = []url.URL{client}
		cfg.AdvertiseClientUrls = []url.URL{client}
		cfg.ListenPeerUrls = []url.URL{peers[i]}
		cfg.AdvertisePeerUrls = []url.URL{peers[i]}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "firebreak-test"
		cfg.ListenMetricsUrls = nil
		cfg.TickMs = 50
		cfg.ElectionMs = 500
		c.clients[i] = client.String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := embed.StartEtcd(cfg)
			if err != nil {
				errs[i] = err
				return
			}
			c.members[i] = e
			select {
			case <-e.Server.ReadyNotify():
			case err := <-e.Err():
				errs[i] = err
			case <-time.After(60 * time.Second):
				errs[i] = fmt.Errorf("member %s not ready after 60s", cfg.Name)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(c.stopAll)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start etcd member %d: %v", i, err)
		}
	}
	return c
}

// stop stops member i (a clean shutdown of that process's etcd).
func (c *cluster) stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped[i] || c.members[i] == nil {
		return
	}
	c.stopped[i] = true
	c.members[i].Close()
}

func (c *cluster) stopAll() {
	for i := range c.members {
		c.stop(i)
	}
}

// open opens a Store (one "replica") on every member's endpoint.
func (c *cluster) open(t testing.TB, mutate func(*fbetcd.Config)) *fbetcd.Store {
	t.Helper()
	c.mu.Lock()
	c.opened++
	node := fmt.Sprintf("replica-%d", c.opened)
	c.mu.Unlock()
	cfg := fbetcd.Config{Endpoints: c.clients, Prefix: "/firebreak-test", RequestTimeout: 3 * time.Second, Node: node, SessionTTL: 2 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := fbetcd.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
