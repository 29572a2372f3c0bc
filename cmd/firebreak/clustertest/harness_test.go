package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/firebreak/firebreak/internal/fbbin"
)

// need skips the test with why when a real part is missing, or fails it
// under CI=true, where every part must be there.
func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", why)
	}
	t.Skipf("skipping: %s", why)
}

// TestMain removes the binary built for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	fbbin.Remove()
	os.Exit(code)
}

// firebreakBin builds the firebreak binary once per test run.
func firebreakBin(t *testing.T) string {
	t.Helper()
	p, err := fbbin.Path()
	if err != nil {
		need(t, false, err.Error())
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// etcdCluster is a real 3-member etcd cluster in the test process.
type etcdCluster struct {
	t       *testing.T
	mu      sync.Mutex
	cfgs    []*embed.Config
	members []*embed.Etcd
	clients []string
}

// startEtcd starts the cluster, on fresh ports again when a member could
// not bind one: a port freePort handed out can be taken by another test
// process before etcd binds it (go test runs packages in parallel; the
// store/etcd tests do the same).
func startEtcd(t *testing.T) *etcdCluster {
	t.Helper()
	dir := t.TempDir()
	t0 := time.Now()
	var err error
	for attempt := range 5 {
		var c *etcdCluster
		c, err = tryStartEtcd(t, filepath.Join(dir, fmt.Sprintf("try%d", attempt)))
		if err == nil {
			t.Cleanup(func() {
				for i := range c.members {
					c.Stop(i)
				}
			})
			return c
		}
		if !errors.Is(err, syscall.EADDRINUSE) && !strings.Contains(err.Error(), "address already in use") {
			break
		}
		t.Logf("start etcd, attempt %d (%s): %v; again on other ports", attempt+1, time.Since(t0).Round(time.Millisecond), err)
	}
	t.Fatalf("start etcd: %v", err)
	return nil
}

// closeAll closes the members that started. Close waits for a member's
// client servers, which start only once it is ready, so each is first
// given 20 s to become ready (two of three make a quorum) — closing one
// first could take the others' quorum away for good — and then all are
// closed side by side, waiting at most 15 s: a member that still hangs is
// left behind rather than the test. Its ports stay taken; the next
// attempt asks for fresh ones.
func closeAll(t *testing.T, members []*embed.Etcd) {
	deadline := time.After(20 * time.Second)
	for _, e := range members {
		if e == nil {
			continue
		}
		select {
		case <-e.Server.ReadyNotify():
		case <-deadline:
		}
	}
	var wg sync.WaitGroup
	for _, e := range members {
		if e != nil {
			wg.Add(1)
			go func() { defer wg.Done(); e.Close() }()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Logf("etcd members of a failed start did not close within 15s; left behind")
	}
}

// etcdPort is freePort; a test replaces it to hand out a taken port.
var etcdPort = freePort

// tryStartEtcd starts the three members with their data under dir, and
// stops those that started when one did not.
func tryStartEtcd(t *testing.T, dir string) (*etcdCluster, error) {
	const n = 3
	peers := make([]url.URL, n)
	var initial []string
	for i := range n {
		peers[i] = url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", etcdPort(t))}
		initial = append(initial, fmt.Sprintf("m%d=%s", i, peers[i].String()))
	}
	c := &etcdCluster{t: t, cfgs: make([]*embed.Config, n), members: make([]*embed.Etcd, n), clients: make([]string, n)}
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		cfg.UnsafeNoFsync = true // quorum and transactions are tested, not power loss
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{filepath.Join(dir, cfg.Name+".log")}
		client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", etcdPort(t))}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peers[i]}, []url.URL{peers[i]}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "firebreak-cluster-test"
		cfg.ListenMetricsUrls = nil
		cfg.TickMs, cfg.ElectionMs = 50, 500
		c.cfgs[i], c.clients[i] = cfg, client.String()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Bind every member first: a port taken fails here, at once, and the
	// others are closed without waiting for a quorum that cannot form.
	started := make([]*embed.Etcd, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); started[i], errs[i] = embed.StartEtcd(c.cfgs[i]) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(t, started)
		return nil, err
	}
	for i, e := range started {
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(20 * time.Second):
			closeAll(t, started)
			return nil, fmt.Errorf("member %d not ready", i)
		}
	}
	copy(c.members, started)
	return c, nil
}

func (c *etcdCluster) start(i int) error {
	e, err := embed.StartEtcd(c.cfgs[i])
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(20 * time.Second):
		e.Close()
		return fmt.Errorf("member %d not ready", i)
	}
	c.mu.Lock()
	c.members[i] = e
	c.mu.Unlock()
	return nil
}

// Stop stops member i (its data stays for Restart).
func (c *etcdCluster) Stop(i int) {
	c.mu.Lock()
	e := c.members[i]
	c.members[i] = nil
	c.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// Restart starts member i again on its data.
func (c *etcdCluster) Restart(i int) {
	if err := c.start(i); err != nil {
		c.t.Errorf("restart etcd member %d: %v", i, err)
	}
}

// client is a plain etcd client for the test's own reads.
func (c *etcdCluster) client(t *testing.T) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.clients, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// replica is one firebreak serve process.
type replica struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// clusterConfig is the firebreak.yaml every replica shares, but for
// listen and cluster.node; extra is appended (top-level keys).
func clusterConfig(endpoints []string, prefix, playbooks, extra string) string {
	return fmt.Sprintf(`log_format: json
log_level: info
playbooks: [%s]
store:
  etcd:
    endpoints: [%s]
    prefix: %s
actions:
  http:
    allow_cidrs: [127.0.0.1/32]
%s`, playbooks, strings.Join(endpoints, ", "), prefix, extra)
}

// startReplica runs firebreak serve as node name with the shared config
// body, and waits until its /readyz answers 200.
func startReplica(t *testing.T, name, body string, env ...string) *replica {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	cfgPath := filepath.Join(dir, "firebreak.yaml")
	full := fmt.Sprintf("listen: 127.0.0.1:%d\ndata_dir: %s\ncluster:\n  node: %s\n%s", port, filepath.Join(dir, "data"), name, body)
	if err := os.WriteFile(cfgPath, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "firebreak.log")
	if keep := os.Getenv("FIREBREAK_TEST_LOG_DIR"); keep != "" {
		// Debugging aid: the replicas' logs outlive the test.
		logPath = filepath.Join(keep, t.Name()+"-"+name+".log")
		_ = os.MkdirAll(filepath.Dir(logPath), 0o755)
	}
	r := &replica{name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), log: logPath, done: make(chan struct{})}
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(firebreakBin(t), "serve", "--config", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.Env = append(os.Environ(), append([]string{"FIREBREAK_ETCD_SESSION_TTL=3s"}, env...)...)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); logf.Close(); close(r.done) }()
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(r.log)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("--- %s log (tail)\n%s", name, b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(r.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case <-r.done:
			b, _ := os.ReadFile(r.log)
			t.Fatalf("replica %s exited at start:\n%s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(r.log)
			t.Fatalf("replica %s not ready in 30s:\n%s", name, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill sends SIGKILL and waits for the process to go.
func (r *replica) Kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// Stop ends the replica gracefully (SIGTERM), killing it after 15 s.
func (r *replica) Stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		r.Kill()
	}
}

// Alive reports whether the process still runs.
func (r *replica) Alive() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// LogContains reports whether the replica's log holds s.
func (r *replica) LogContains(s string) bool {
	b, _ := os.ReadFile(r.log)
	return bytes.Contains(b, []byte(s))
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pendingCount counts the unfinished events of the cluster under prefix.
func pendingCount(ctx context.Context, cli *clientv3.Client, prefix string) (int64, error) {
	resp, err := cli.Get(ctx, prefix+"/pending/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}

// TestStartEtcdRetriesATakenPort: a port taken between freePort and
// etcd's bind (another test process took it) costs an attempt, not the
// test. It failed a whole-suite run once with "bind: address already in
// use" before startEtcd tried again.
func TestStartEtcdRetriesATakenPort(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := held.Addr().(*net.TCPAddr).Port
	calls := 0
	etcdPort = func(t *testing.T) int {
		calls++
		if calls == 1 {
			return taken
		}
		return freePort(t)
	}
	defer func() { etcdPort = freePort }()
	c := startEtcd(t)
	if calls <= 6 {
		t.Fatalf("%d ports asked for: the taken one was not replaced by a second attempt", calls)
	}
	cli := c.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/retry", "ok"); err != nil {
		t.Fatalf("the cluster of the second attempt does not take a write: %v", err)
	}
}
