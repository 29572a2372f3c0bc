package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/firebreak/firebreak/actions/kubernetes/kubetest"
	"github.com/firebreak/firebreak/internal/fbbin"
)

// cluster is the real kube-apiserver the chart is applied to (RBAC on).
var cluster kubetest.Shared

// TestMain runs the tests against the shared API server, then removes the
// firebreak binary firebreakBin built, if any.
func TestMain(m *testing.M) {
	code := cluster.Run(m, kubetest.Options{Authorization: kubetest.RBAC})
	fbbin.Remove()
	os.Exit(code)
}

// root is the repository root, relative to this package.
const root = ".."

// need skips the test with why when a real tool is missing, or fails it
// under CI=true, where every tool must be installed.
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

// tool returns the path of a command on $PATH, skipping (failing in CI)
// when it is missing.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	need(t, err == nil, name+" is not installed ("+install+")")
	return p
}

// helmVersion is the helm scripts/setup.d/40-helm.sh builds.
const helmVersion = "v4.3.2"

// helmBin returns $FIREBREAK_HELM or the setup script's cached helm.
func helmBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("FIREBREAK_HELM")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "firebreak", "helm", helmVersion, "helm")
	}
	_, err := os.Stat(p)
	need(t, err == nil, "no helm at "+p+": run scripts/setup.d/40-helm.sh or set $FIREBREAK_HELM")
	return p
}
