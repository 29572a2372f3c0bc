package deploy_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
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

	"github.com/firebreak/firebreak/internal/etcdtest"
	"github.com/firebreak/firebreak/internal/fbbin"
	"github.com/firebreak/firebreak/web/tlstest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// firebreakBin builds the firebreak binary once per test run; TestMain
// removes it.
func firebreakBin(t *testing.T) string {
	t.Helper()
	p, err := fbbin.Path()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// etcdTLS is a single-member etcd in the test process that serves its
// clients over TLS only and demands a client certificate signed by its
// CA.
type etcdTLS struct {
	endpoint string
	// ca, cert and key are what the tlsSecret holds: the CA of the server
	// and Firebreak's client certificate, as a cert-manager Secret has
	// them (ca.crt, tls.crt, tls.key).
	ca, cert, key []byte
	// client is the test's own, with a certificate of the same CA.
	client *clientv3.Client
}

// etcdAuth is how etcd's own access control is set up for Firebreak.
type etcdAuth int

const (
	// authOff: the client certificate is the only check.
	authOff etcdAuth = iota
	// authPassword: auth on; the user firebreak has a password, and
	// Firebreak's client certificate names no user (CN firebreak-client),
	// so only the password lets it in.
	authPassword
	// authCertCN: auth on; the user firebreak has no password, and
	// Firebreak's client certificate has CN firebreak, which etcd takes as
	// the user.
	authCertCN
)

// etcdPassword is the user firebreak's password with authPassword.
const etcdPassword = "etcd-pw-7f3a"

// startEtcdTLS starts it. With auth on, it is set up as an etcd operator
// would for Firebreak: the user firebreak may read and write only under
// /firebreak/.
func startEtcdTLS(t *testing.T, auth etcdAuth) *etcdTLS {
	t.Helper()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "etcd-ca")
	srv := ca.Server(t, "etcd")
	fbCN := "firebreak-client"
	if auth == authCertCN {
		fbCN = "firebreak"
	}
	fb := ca.Client(t, fbCN)
	endpoint := etcdtest.One(t, func(cfg *embed.Config) {
		// TLS and the chart's config are tested here, not power loss.
		client := url.URL{Scheme: "https", Host: "127.0.0.1:0"}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.TickMs, cfg.ElectionMs = 50, 500
		cfg.ClientTLSInfo.CertFile = tlstest.Write(t, dir, "server.crt", srv.CertPEM)
		cfg.ClientTLSInfo.KeyFile = tlstest.Write(t, dir, "server.key", srv.Key)
		cfg.ClientTLSInfo.TrustedCAFile = tlstest.Write(t, dir, "ca.crt", ca.PEM)
		cfg.ClientTLSInfo.ClientCertAuth = true
	})
	et := &etcdTLS{endpoint: endpoint, ca: ca.PEM, cert: fb.CertPEM, key: fb.Key}
	own := ca.Client(t, "root") // with auth on, the certificate's CN is the user
	var err error
	et.client, err = clientv3.New(clientv3.Config{
		Endpoints: []string{et.endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{own.TLS(t)}, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { et.client.Close() })
	// The server really refuses a client without a certificate: the proof
	// that Firebreak's reads below went through the tlsSecret's cert.
	bare, err := clientv3.New(clientv3.Config{
		Endpoints: []string{et.endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12},
	})
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err = bare.Get(ctx, "/")
		cancel()
		bare.Close()
	}
	if err == nil {
		t.Fatal("etcd answered a client without a certificate")
	}
	if auth == authOff {
		return et
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cli := et.client
	for _, step := range []struct {
		what string
		do   func() error
	}{
		{"add root", func() error { _, err := cli.UserAdd(ctx, "root", "root-pw-c41d"); return err }},
		{"grant root", func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err }},
		{"add firebreak", func() error {
			if auth == authCertCN {
				_, err := cli.UserAddWithOptions(ctx, "firebreak", "", &clientv3.UserAddOptions{NoPassword: true})
				return err
			}
			_, err := cli.UserAdd(ctx, "firebreak", etcdPassword)
			return err
		}},
		{"add role", func() error { _, err := cli.RoleAdd(ctx, "firebreak"); return err }},
		{"grant prefix", func() error {
			_, err := cli.RoleGrantPermission(ctx, "firebreak", "/firebreak/", clientv3.GetPrefixRangeEnd("/firebreak/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		}},
		{"grant role", func() error { _, err := cli.UserGrantRole(ctx, "firebreak", "firebreak"); return err }},
		{"enable auth", func() error { _, err := cli.AuthEnable(ctx); return err }},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("etcd auth: %s: %v", step.what, err)
		}
	}
	// Auth is on: a certificate that names no user gets nothing, so
	// Firebreak's reads below went through its password or its CN.
	other := ca.Client(t, "firebreak-client")
	noUser, err := clientv3.New(clientv3.Config{
		Endpoints: []string{et.endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{other.TLS(t)}, MinVersion: tls.VersionTLS12},
	})
	if err == nil {
		gctx, gcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = noUser.Get(gctx, "/firebreak/x")
		gcancel()
		noUser.Close()
	}
	if err == nil {
		t.Fatal("with auth on, etcd answered a certificate that names no user")
	}
	return et
}

// pod is what a container of the rendered Deployment sees: each volume
// mount a local directory holding what its volume would, the env filled
// from the Secrets it names.
type pod struct {
	dir    string
	mounts map[string]string // mount path in the pod → local directory
	env    []string
}

// podFor lays out the Deployment's container on the local filesystem with
// secrets as the namespace's Secrets (name → key → value) and config as
// the ConfigMap's firebreak.yaml. A volume the test cannot provide, a
// Secret or key it does not have, fails the test.
func podFor(t *testing.T, d *appsv1.Deployment, config string, secrets map[string]map[string][]byte) *pod {
	t.Helper()
	p := &pod{dir: t.TempDir(), mounts: map[string]string{}}
	volumes := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	c := d.Spec.Template.Spec.Containers[0]
	for i, m := range c.VolumeMounts {
		p.mounts[m.MountPath] = filepath.Join(p.dir, fmt.Sprintf("mount%d", i))
	}
	// The config as the pod reads it, with every path under a mount
	// moved to that mount's local directory: the only change made to the
	// chart's file.
	for mp, local := range p.mounts {
		config = strings.ReplaceAll(config, mp+"/", local+"/")
	}
	for _, m := range c.VolumeMounts {
		local := p.mounts[m.MountPath]
		if err := os.MkdirAll(local, 0o700); err != nil {
			t.Fatal(err)
		}
		v, ok := volumes[m.Name]
		switch {
		case !ok:
			t.Fatalf("mount %s names no volume", m.Name)
		case v.Secret != nil:
			data, ok := secrets[v.Secret.SecretName]
			if !ok {
				t.Fatalf("the Deployment mounts Secret %q, which the namespace does not have", v.Secret.SecretName)
			}
			for key, val := range data {
				tlstest.Write(t, local, key, val)
			}
		case v.ConfigMap != nil && m.Name == "config":
			tlstest.Write(t, local, "firebreak.yaml", []byte(config))
		case v.EmptyDir != nil:
		default:
			t.Fatalf("volume %s: the test cannot provide %+v", m.Name, v.VolumeSource)
		}
	}
	for _, e := range c.Env {
		ref := e.ValueFrom.SecretKeyRef
		val, ok := secrets[ref.Name][ref.Key]
		if !ok {
			t.Fatalf("env %s names Secret %s key %s, which the namespace does not have", e.Name, ref.Name, ref.Key)
		}
		p.env = append(p.env, e.Name+"="+string(val))
	}
	return p
}

// path is the local file of a path in the pod; a path under no mount
// stays as it is (and is then not found).
func (p *pod) path(inPod string) string {
	for mp, local := range p.mounts {
		if inPod == mp || strings.HasPrefix(inPod, mp+"/") {
			return local + inPod[len(mp):]
		}
	}
	return inPod
}

// TestHelmClusteredServesOnEtcd renders clustered mode for a real etcd
// that serves TLS only and demands a client certificate, and runs the
// real binary as the Deployment would: the rendered ConfigMap's
// firebreak.yaml, the env filled from the Secrets the Deployment names,
// each path the config names found through the Deployment's own volume
// mounts (a path under no mount, or under the wrong one, does not
// resolve). `firebreak validate --config` accepts the file; `firebreak
// serve` with it answers /readyz 200, takes a webhook, and its state is in
// etcd under the chart's prefix.
func TestHelmClusteredServesOnEtcd(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth etcdAuth
	}{
		{"client certificate", authOff},
		{"etcd auth by password", authPassword},
		{"etcd auth by certificate CN", authCertCN},
	} {
		t.Run(tc.name, func(t *testing.T) { servesOnEtcd(t, tc.auth) })
	}
}

func servesOnEtcd(t *testing.T, auth etcdAuth) {
	helmBin(t) // skip (fail under CI=true) before building anything
	bin := firebreakBin(t)
	const amToken = "am-token-91c2"
	et := startEtcdTLS(t, auth)

	set := []string{
		"--set", "cluster.enabled=true",
		"--set", "cluster.etcd.endpoints={" + et.endpoint + "}",
		"--set", "cluster.etcd.tlsSecret=firebreak-etcd-client",
	}
	secrets := map[string]map[string][]byte{
		"firebreak":             {"alertmanager-token": []byte(amToken)},
		"firebreak-etcd-client": {"ca.crt": et.ca, "tls.crt": et.cert, "tls.key": et.key},
	}
	if auth == authPassword {
		set = append(set, "--set", "cluster.etcd.username=firebreak", "--set", "cluster.etcd.passwordSecret.name=firebreak-etcd")
		secrets["firebreak-etcd"] = map[string][]byte{"password": []byte(etcdPassword)}
	}
	k := byKind(t, render(t, "firebreak", set...))
	d := into[appsv1.Deployment](t, k["Deployment"][0])
	body, _ := renderedConfig(t, k)
	if auth == authPassword && (!strings.Contains(body, "password_env: FIREBREAK_ETCD_PASSWORD") || strings.Contains(body, etcdPassword)) {
		t.Fatalf("the ConfigMap must name the password's env, never hold it:\n%s", body)
	}
	p := podFor(t, d, body, secrets)
	c := d.Spec.Template.Spec.Containers[0]
	if len(c.Args) != 1 || !strings.HasPrefix(c.Args[0], "--config=") {
		t.Fatalf("container args = %q", c.Args)
	}
	cfgPath := p.path(strings.TrimPrefix(c.Args[0], "--config="))

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	run := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env, cmd.Dir = p.env, p.dir
		cmd.WaitDelay = 5 * time.Second
		return cmd
	}
	if out, err := run("validate", "--config", cfgPath).CombinedOutput(); err != nil {
		cb, _ := os.ReadFile(cfgPath)
		t.Fatalf("firebreak validate --config on the rendered clustered config: %v\n%s\n--- config\n%s", err, out, cb)
	}

	// serve as the image runs it (entrypoint `firebreak serve
	// --data-dir=/data`, then the Deployment's args), on a loopback port
	// instead of 0.0.0.0:9095.
	port := freePort(t)
	var logs syncBuffer
	srv := run("serve", "--data-dir="+p.path("/data"), "--config="+cfgPath, fmt.Sprintf("--listen=127.0.0.1:%d", port))
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when serve has exited, with its error in waitErr.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = srv.Process.Kill() // an error when it is gone already
		<-exited
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReadyLog(ctx, t, base+"/readyz", exited, logs.String)

	// A webhook with the token from the Secret is accepted, and the state
	// is in etcd under the chart's prefix, nothing outside it.
	hook, err := os.ReadFile(filepath.Join(root, "web", "sources", "testdata", "alertmanager-firing-group.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/hooks/alertmanager", bytes.NewReader(hook))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+amToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST /hooks/alertmanager = %s, want 202\n%s", resp.Status, logs.String())
	}
	all, err := et.client.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Kvs) == 0 {
		t.Error("nothing in etcd after serve took a webhook")
	}
	for _, kv := range all.Kvs {
		if !strings.HasPrefix(string(kv.Key), "/firebreak/") {
			t.Errorf("key %q in etcd is outside the chart's prefix /firebreak/", kv.Key)
		}
	}

	_ = srv.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("serve did not exit cleanly on SIGTERM: %v\n%s", waitErr, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM\n%s", logs.String())
	}
	if s := logs.String(); strings.Contains(s, amToken) || strings.Contains(s, etcdPassword) {
		t.Errorf("a secret is in serve's log:\n%s", s)
	}
}

// syncBuffer is a bytes.Buffer a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitReadyLog polls url until it answers 200; it fails the test when the
// process exits first, or after 30 s or ctx's end.
func waitReadyLog(ctx context.Context, t *testing.T, url string, exited <-chan struct{}, logs func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	last := ""
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-exited:
			t.Fatalf("serve exited before %s answered\n%s", url, logs())
		case <-ctx.Done():
			t.Fatalf("%s never answered 200 (last: %s)\n%s", url, last, logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
