package deploy_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imageConfig is the part of `buildah inspect --type image` the test reads.
type imageConfig struct {
	OCIv1 struct {
		Config struct {
			User         string              `json:"User"`
			Entrypoint   []string            `json:"Entrypoint"`
			Cmd          []string            `json:"Cmd"`
			Env          []string            `json:"Env"`
			ExposedPorts map[string]struct{} `json:"ExposedPorts"`
			Volumes      map[string]struct{} `json:"Volumes"`
		} `json:"config"`
	} `json:"OCIv1"`
}

func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// TestImage builds the image with `make image` (buildah, the Dockerfile,
// the release binary), reads its config, mounts its root filesystem and runs
// the binary from it as uid 65532: `firebreak version`, the default command
// (which must refuse to listen beyond loopback without sources' auth), then
// `serve` until /readyz answers and a webhook is accepted into /data.
// Running the container itself (podman) is not possible on these build
// machines: crun cannot set rlimits there.
func TestImage(t *testing.T) {
	buildah := tool(t, "buildah", "apt-get install buildah, or run scripts/setup.d/45-buildah.sh")
	need(t, os.Geteuid() == 0, "the image test mounts the image with buildah and chroots into it, which needs root")
	chroot := tool(t, "chroot", "coreutils")
	tool(t, "make", "apt-get install make")

	tag := fmt.Sprintf("localhost/firebreak:deploytest-%d", os.Getpid())
	// The version make derives, so the dist/ binary stays the one `make
	// release` builds (the test does not stamp a version of its own).
	version := runOut(t, tool(t, "git", "apt-get install git"), "-C", root, "describe", "--tags", "--always", "--dirty")
	build := exec.Command("make", "-C", root, "image", "IMAGE="+tag)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(buildah, "rmi", "-f", tag).Run() })

	var inspect []imageConfig
	raw := runOut(t, buildah, "inspect", "--type", "image", tag)
	var one imageConfig
	if err := json.Unmarshal([]byte(raw), &one); err != nil {
		t.Fatalf("buildah inspect: %v", err)
	}
	inspect = append(inspect, one)
	cfg := inspect[0].OCIv1.Config
	if cfg.User != "65532:65532" {
		t.Errorf("image user = %q, want 65532:65532", cfg.User)
	}
	if want := []string{"/firebreak", "serve", "--data-dir=/data"}; !reflect.DeepEqual(cfg.Entrypoint, want) {
		t.Errorf("entrypoint = %q, want %q", cfg.Entrypoint, want)
	}
	if _, ok := cfg.ExposedPorts["9095/tcp"]; !ok {
		t.Errorf("exposed ports = %v, want 9095/tcp", cfg.ExposedPorts)
	}
	if _, ok := cfg.Volumes["/data"]; !ok {
		t.Errorf("volumes = %v, want /data", cfg.Volumes)
	}

	ctr := runOut(t, buildah, "from", "--pull-never", "--name", fmt.Sprintf("deploytest-%d", os.Getpid()), tag)
	t.Cleanup(func() { _ = exec.Command(buildah, "rm", ctr).Run() })
	rootfs := runOut(t, buildah, "mount", ctr)
	t.Cleanup(func() { _ = exec.Command(buildah, "umount", ctr).Run() })

	checkRootfs(t, rootfs)

	// As the image runs: its user, its environment, nothing of the host's.
	cmdIn := func(ctx context.Context, args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, chroot, append([]string{"--userspec=65532:65532", rootfs}, args...)...)
		c.Env = cfg.Env
		c.Dir = "/"
		return c
	}

	out, err := cmdIn(t.Context(), "/firebreak", "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "firebreak "+version+" commit ") || !strings.Contains(string(out), "linux/amd64") {
		t.Fatalf("firebreak version in the image: %v: %q", err, out)
	}

	// The default command listens on every address, so without sources'
	// auth Firebreak refuses to start, saying why.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err = cmdIn(ctx, append(cfg.Entrypoint, cfg.Cmd...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a loopback address") {
		t.Errorf("default command: %v, want a refusal to listen unauthenticated:\n%s", err, out)
	}

	// serve, as `docker run IMAGE ARGS` would with ARGS for a loopback port.
	port := freePort(t)
	var logs bytes.Buffer
	srv := cmdIn(t.Context(), append(cfg.Entrypoint, fmt.Sprintf("--listen=127.0.0.1:%d", port))...)
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Process.Kill()
			<-exited
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, base+"/readyz", exited, &logs)

	body, err := os.ReadFile(filepath.Join(root, "web", "sources", "testdata", "alertmanager-firing-group.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/hooks/alertmanager", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST /hooks/alertmanager = %s, want 202", resp.Status)
	}

	_ = srv.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("serve did not exit cleanly on SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM\n%s", logs.String())
	}
	st, err := os.Stat(filepath.Join(rootfs, "data", "firebreak.db"))
	if err != nil {
		t.Fatalf("no bbolt file in /data: %v", err)
	}
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 65532 {
		t.Errorf("/data/firebreak.db owned by uid %d", s.Uid)
	}
}

// checkRootfs checks what the image holds: exactly the binary, the CA
// bundle, passwd and group, and /data for uid 65532; the binary is static,
// stripped, built with -trimpath and with the time zone database.
func checkRootfs(t *testing.T, rootfs string) {
	t.Helper()
	var files []string
	_ = filepath.Walk(rootfs, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(rootfs, p)
			files = append(files, rel)
		}
		return nil
	})
	sortStrings(files)
	if want := "etc/group etc/passwd etc/ssl/certs/ca-certificates.crt firebreak"; strings.Join(files, " ") != want {
		t.Errorf("image files = %q, want %q", files, want)
	}
	pem, err := os.ReadFile(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) || strings.Count(string(pem), "BEGIN CERTIFICATE") < 50 {
		t.Errorf("CA bundle has %d certificates", strings.Count(string(pem), "BEGIN CERTIFICATE"))
	}
	st, err := os.Stat(filepath.Join(rootfs, "data"))
	if err != nil || !st.IsDir() || st.Sys().(*syscall.Stat_t).Uid != 65532 || st.Sys().(*syscall.Stat_t).Gid != 65532 {
		t.Errorf("/data: %v %+v", err, st)
	}
	bin := filepath.Join(rootfs, "firebreak")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: it is not static")
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: it is not stripped")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return
	}
	info := runOut(t, goBin, "version", "-m", bin)
	// (-trimpath keeps -ldflags out of the build info: the version line and
	// the missing symbol table above show them.)
	for _, want := range []string{"-tags=timetzdata", "CGO_ENABLED=0", "-trimpath=true"} {
		if !strings.Contains(info, want) {
			t.Errorf("build info lacks %q:\n%s", want, info)
		}
	}
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

// waitReady polls url until it answers 200, the process exits or 30 s pass.
func waitReady(t *testing.T, url string, exited <-chan error, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("serve exited before %s answered: %v\n%s", url, err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200 (last: %v)\n%s", url, err, logs.String())
		}
	}
}
