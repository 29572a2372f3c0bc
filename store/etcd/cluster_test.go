package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	fbetcd "github.com/firebreak/firebreak/store/etcd"
)

// members is a real three-member etcd cluster in the test process, on
// loopback ports the kernel picked, with its data in a temporary directory.
type members struct {
	members []*embed.Etcd
	clients []string // client URL of each member
	stopped []bool
	mu      sync.Mutex
	opened  int
}

// cluster is a test's view of a cluster: the key prefix its stores use.
// Tests that stop no member share one cluster (sharedCluster), each under
// its own prefix, so that the package's tests do not each pay for
// starting and stopping three members.
type cluster struct {
	*members
	prefix string
}

var shared struct {
	once sync.Once
	m    *members
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.m != nil {
		shared.m.stopAll()
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedCluster returns the package's shared cluster under a prefix of
// t's own.
func sharedCluster(t *testing.T) *cluster {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "fb-etcd-")
		if shared.err == nil {
			shared.m, shared.err = launchRetry(shared.dir, false)
		}
	})
	if shared.err != nil {
		t.Fatalf("start etcd: %v", shared.err)
	}
	return &cluster{members: shared.m, prefix: "/t/" + strings.ReplaceAll(t.Name(), "/", "_")}
}

// freePort asks the kernel for a free loopback port. Peer URLs must be known
// before any member starts (each is in the others' initial cluster), so
// they cannot be left to port 0.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startCluster starts a 3-member cluster. fsync is off in tests (they
// test quorum and transactions, not power loss) and on for benchmarks.
func startCluster(t testing.TB, fsync bool) *cluster {
	t.Helper()
	m, err := launchRetry(t.TempDir(), fsync)
	if m != nil {
		t.Cleanup(m.stopAll)
	}
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	return &cluster{members: m, prefix: "/firebreak-test"}
}

// pickPort is freePort; a test replaces it to hand out a taken port.
var pickPort = freePort

// launchRetry is launch, tried again on fresh ports when a member could
// not bind its port: a port freePort handed out can be taken by another
// test process before etcd binds it (go test runs packages in parallel).
func launchRetry(dir string, fsync bool) (*members, error) {
	var err error
	for attempt := range 5 {
		var m *members
		try := filepath.Join(dir, fmt.Sprintf("try%d", attempt))
		if err = os.MkdirAll(try, 0o700); err != nil {
			return nil, err
		}
		m, err = launch(try, fsync)
		if err == nil || !addrInUse(err) {
			return m, err
		}
	}
	return nil, err
}

// addrInUse says whether err is a failed bind. embed does not always wrap
// the listen error, so its text is the fallback.
func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// launch starts the three members with their data under dir.
func launch(dir string, fsync bool) (*members, error) {
	const n = 3
	names := make([]string, n)
	peers := make([]url.URL, n)
	var initial []string
	for i := range n {
		names[i] = fmt.Sprintf("m%d", i)
		port, err := pickPort()
		if err != nil {
			return nil, err
		}
		peers[i] = url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
		initial = append(initial, names[i]+"="+peers[i].String())
	}
	c := &members{members: make([]*embed.Etcd, n), clients: make([]string, n), stopped: make([]bool, n)}
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
		port, err := pickPort()
		if err != nil {
			return nil, err
		}
		client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
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
	for i, err := range errs {
		if err != nil {
			c.stopAll()
			return nil, fmt.Errorf("member %d: %w", i, err)
		}
	}
	return c, nil
}

// stop stops member i (a clean shutdown of that process's etcd).
func (c *members) stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped[i] || c.members[i] == nil {
		return
	}
	c.stopped[i] = true
	c.members[i].Close()
}

func (c *members) stopAll() {
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
	cfg := fbetcd.Config{Endpoints: c.clients, Prefix: c.prefix, RequestTimeout: 3 * time.Second, Node: node, SessionTTL: 2 * time.Second}
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

// A port taken between freePort and etcd's bind (another test process
// got it) makes the cluster start again on fresh ports, not fail the
// package's every test.
func TestLaunchRetriesATakenPort(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := held.Addr().(*net.TCPAddr).Port
	first := true
	pickPort = func() (int, error) {
		if first {
			first = false
			return taken, nil
		}
		return freePort()
	}
	defer func() { pickPort = freePort }()
	m, err := launchRetry(t.TempDir(), false)
	if err != nil {
		t.Fatalf("launch with one taken port: %v", err)
	}
	m.stopAll()
	if first {
		t.Fatal("the taken port was never handed out")
	}
}
