package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Version is the Kubernetes version the setup script builds.
const Version = "v1.37.2"

// EnvBinary names the environment variable that overrides the binary path.
const EnvBinary = "FIREBREAK_KUBE_APISERVER"

// ErrNoBinary is returned by Start when no kube-apiserver binary is found.
var ErrNoBinary = errors.New("kube-apiserver binary not found")

// Authorization modes.
const (
	AlwaysAllow = "AlwaysAllow"
	RBAC        = "RBAC"
)

// AdminUser is the built-in user in system:masters, allowed everything.
const AdminUser = "admin"

// Options configure a Start.
type Options struct {
	// Authorization is RBAC (the default) or AlwaysAllow.
	Authorization string
	// Users are extra token users, in no group but system:authenticated;
	// Env.UserConfig returns a rest.Config for each. AdminUser always exists.
	Users []string
	// StartTimeout bounds the wait for /readyz; zero means one minute.
	StartTimeout time.Duration
	// Log, when set, receives kube-apiserver's output; otherwise it is kept
	// in a file whose tail is returned if start-up fails.
	Log io.Writer
}

// Env is a running etcd and kube-apiserver.
type Env struct {
	// URL is the API server's https address.
	URL string
	// StartupTime is how long the kube-apiserver took to become ready.
	StartupTime time.Duration

	dir     string
	caFile  string
	tokens  map[string]string
	etcd    *etcdServer
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// BinaryPath returns the kube-apiserver to run: $FIREBREAK_KUBE_APISERVER, or
// the setup script's cache path.
func BinaryPath() string {
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "firebreak", "kube-apiserver", Version, "kube-apiserver")
}

// Start starts etcd and kube-apiserver and waits until the API server is
// ready. Call Stop when done. It returns an error wrapping ErrNoBinary when
// the binary is missing.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	bin := BinaryPath()
	if st, serr := os.Stat(bin); bin == "" || serr != nil || st.IsDir() {
		return nil, fmt.Errorf("%w at %q: run scripts/setup.d/20-kube-apiserver.sh or set $%s", ErrNoBinary, bin, EnvBinary)
	}
	if opts.Authorization == "" {
		opts.Authorization = RBAC
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = time.Minute
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	e := &Env{dir: dir, tokens: map[string]string{}}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()

	if e.etcd, err = startEtcd(ctx, filepath.Join(dir, "etcd")); err != nil {
		return nil, err
	}
	tokenFile, err := e.writeTokens(append([]string{AdminUser}, opts.Users...))
	if err != nil {
		return nil, err
	}
	keyFile, err := writeServiceAccountKey(filepath.Join(dir, "sa.key"))
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, "certs")
	e.caFile = filepath.Join(certDir, "apiserver.crt")
	e.URL = "https://127.0.0.1:" + strconv.Itoa(port)

	args := []string{
		"--etcd-servers=" + e.etcd.url,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + certDir,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=" + opts.Authorization,
		"--disable-admission-plugins=ServiceAccount",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + keyFile,
		"--service-account-signing-key-file=" + keyFile,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--anonymous-auth=false",
		"--v=0",
	}
	e.cmd = exec.Command(BinaryPath(), args...)
	e.cmd.SysProcAttr = sysProcAttr()
	var out io.Writer = opts.Log
	if out == nil {
		e.logPath = filepath.Join(dir, "kube-apiserver.log")
		f, ferr := os.Create(e.logPath)
		if ferr != nil {
			return nil, fmt.Errorf("kubetest: %w", ferr)
		}
		defer f.Close() // the child keeps its own descriptor
		out = f
	}
	e.cmd.Stdout, e.cmd.Stderr = out, out
	start := time.Now()
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("kubetest: start kube-apiserver: %w", err)
	}
	e.exited = make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(e.exited) }()

	if err := e.waitReady(ctx, opts.StartTimeout); err != nil {
		return nil, fmt.Errorf("kubetest: kube-apiserver not ready: %w%s", err, e.logTail())
	}
	e.StartupTime = time.Since(start)
	return e, nil
}

// Stop stops kube-apiserver and etcd and removes their files. It is safe to
// call more than once.
func (e *Env) Stop() {
	if e.cmd != nil && e.cmd.Process != nil && e.exited != nil {
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(10 * time.Second):
			_ = e.cmd.Process.Kill()
			<-e.exited
		}
		e.cmd = nil
	}
	if e.etcd != nil {
		e.etcd.stop()
		e.etcd = nil
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
		e.dir = ""
	}
}

// AdminConfig returns a rest.Config for AdminUser (system:masters).
func (e *Env) AdminConfig() *rest.Config { return e.UserConfig(AdminUser) }

// UserConfig returns a rest.Config that authenticates as user, one of
// Options.Users or AdminUser. It panics for an unknown user.
func (e *Env) UserConfig(user string) *rest.Config {
	tok, ok := e.tokens[user]
	if !ok {
		panic(fmt.Sprintf("kubetest: unknown user %q", user))
	}
	return &rest.Config{
		Host:            e.URL,
		BearerToken:     tok,
		TLSClientConfig: rest.TLSClientConfig{CAFile: e.caFile},
		UserAgent:       "kubetest",
		QPS:             100,
		Burst:           200,
	}
}

func (e *Env) writeTokens(users []string) (string, error) {
	var b strings.Builder
	for _, u := range users {
		if _, dup := e.tokens[u]; dup || u == "" || strings.ContainsAny(u, ",\"\n") {
			return "", fmt.Errorf("kubetest: bad or duplicate user %q", u)
		}
		buf := make([]byte, 24)
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("kubetest: %w", err)
		}
		tok := hex.EncodeToString(buf)
		e.tokens[u] = tok
		groups := ""
		if u == AdminUser {
			groups = `,"system:masters"`
		}
		fmt.Fprintf(&b, "%s,%s,%s%s\n", tok, u, u, groups)
	}
	p := filepath.Join(e.dir, "tokens.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("kubetest: %w", err)
	}
	return p, nil
}

// waitReady polls /readyz until it answers ok, the process exits or the
// timeout passes.
func (e *Env) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The serving certificate is generated at start-up, so the CA file only
	// appears then; until it does, probe without verification (loopback).
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		tr := &http.Transport{TLSClientConfig: &tls.Config{}}
		if pool, err := loadPool(e.caFile); err == nil {
			tr.TLSClientConfig.RootCAs = pool
		} else {
			tr.TLSClientConfig.InsecureSkipVerify = true
		}
		client.Transport = tr
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[AdminUser])
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && tr.TLSClientConfig.RootCAs != nil {
				tr.CloseIdleConnections()
				return nil
			}
			last = fmt.Errorf("readyz: %s: %s", resp.Status, lastLines(string(body), 3))
		} else {
			last = err
		}
		tr.CloseIdleConnections()
		select {
		case <-e.exited:
			return fmt.Errorf("process exited")
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func loadPool(caFile string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("no certificates in %s", caFile)
	}
	return pool, nil
}

func (e *Env) logTail() string {
	if e.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(e.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	return "\n--- kube-apiserver log (tail) ---\n" + lastLines(string(b), 30)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func writeServiceAccountKey(path string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("kubetest: service-account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("kubetest: service-account key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("kubetest: %w", err)
	}
	return path, nil
}

// freePort asks the kernel for a free loopback port. kube-apiserver treats
// --secure-port=0 as "do not serve", so the port must be chosen up front.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("kubetest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Shared is one Env for a whole test package, started by Run from TestMain.
// The zero value is ready to use.
type Shared struct {
	env *Env
	err error
}

// Run starts the Env, runs the package's tests and stops it, returning the
// exit code for os.Exit. When the Env cannot start, the tests still run and
// Env reports the reason in each.
func (s *Shared) Run(m *testing.M, opts Options) int {
	if !flag.Parsed() {
		flag.Parse() // for testing.Verbose and -run before m.Run
	}
	ctx := context.Background()
	s.env, s.err = Start(ctx, opts)
	if s.err == nil && testing.Verbose() {
		fmt.Fprintf(os.Stderr, "kubetest: kube-apiserver %s ready at %s in %s\n", Version, s.env.URL, s.env.StartupTime.Round(time.Millisecond))
	}
	code := m.Run()
	if s.env != nil {
		s.env.Stop()
	}
	return code
}

// Env returns the shared Env. When it could not start, the test is skipped
// for a missing binary (failed under CI=true) and failed for anything else.
func (s *Shared) Env(t testing.TB) *Env {
	t.Helper()
	if s.env != nil {
		return s.env
	}
	skipOrFail(t, s.err)
	return nil
}

// New starts an Env for one test and stops it on t.Cleanup, with the same
// skip and fail rules as Shared.Env.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx := t.Context()
	env, err := Start(ctx, opts)
	if err != nil {
		skipOrFail(t, err)
		return nil
	}
	t.Cleanup(env.Stop)
	return env
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		err = errors.New("kubetest: Shared.Run was not called from TestMain")
	}
	if errors.Is(err, ErrNoBinary) && os.Getenv("CI") != "true" {
		t.Skipf("skipping: %v", err)
	}
	t.Fatal(err)
}
