package approval_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The engine (the gate included) must not depend on any integration under
// actions/: an integration implements the engine's interfaces, never the
// other way round. Only the actions package itself (the action contract)
// may be imported. Test files are not counted: they may drive the real
// Slack notifier.
func TestEngineImportsNoIntegration(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go tool is needed to list the engine's imports: %v", err)
		}
		t.Skipf("the go tool is needed to list the engine's imports: %v", err)
	}
	mod := run(t, goBin, "list", "-m")
	deps := run(t, goBin, "list", "-deps", "-f", "{{.ImportPath}}", mod+"/engine/...")
	prefix := mod + "/actions/"
	var bad []string
	n := 0
	for _, p := range strings.Fields(deps) {
		if strings.HasPrefix(p, mod+"/engine") {
			n++
		}
		if strings.HasPrefix(p, prefix) {
			bad = append(bad, p)
		}
	}
	if n < 5 {
		t.Fatalf("go list found only %d engine packages; the check would prove nothing:\n%s", n, deps)
	}
	if len(bad) > 0 {
		t.Errorf("engine packages depend on integrations: %s (run go list -deps ./engine/... | grep /actions/)", strings.Join(bad, ", "))
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(string(out))
}

// engineLeaves are the engine's packages that the layers below it may
// import (see engine/doc.go): they import nothing of the project but each
// other.
var engineLeaves = []string{"engine/event", "engine/audit", "engine/state", "engine/keylock", "engine/approval/notify"}

// The integrations, the store and the playbook loader may import the
// engine's leaf packages only, never the engine itself or a package that
// depends on it: actions/slack implements the gate's Notifier through the
// leaf engine/approval/notify, not through engine/approval (which imports
// the engine). Test files are not counted.
func TestLowerLayersImportOnlyEngineLeaves(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go tool is needed to list the imports: %v", err)
		}
		t.Skipf("the go tool is needed to list the imports: %v", err)
	}
	mod := run(t, goBin, "list", "-m")
	leaf := map[string]bool{}
	for _, l := range engineLeaves {
		leaf[mod+"/"+l] = true
	}
	pkgs := strings.Fields(run(t, goBin, "list", mod+"/actions/...", mod+"/store/...", mod+"/playbooks"))
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages; the check would prove nothing", len(pkgs))
	}
	for _, p := range pkgs {
		deps := run(t, goBin, "list", "-deps", "-f", "{{.ImportPath}}", p)
		var bad []string
		for _, d := range strings.Fields(deps) {
			if (d == mod+"/engine" || strings.HasPrefix(d, mod+"/engine/")) && !leaf[d] {
				bad = append(bad, strings.TrimPrefix(d, mod+"/"))
			}
		}
		if len(bad) > 0 {
			t.Errorf("%s depends on engine packages that are not leaves: %s", strings.TrimPrefix(p, mod+"/"), strings.Join(bad, ", "))
		}
	}
}
