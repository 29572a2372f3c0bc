package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// rbacDocs runs `firebreak rbac args…` and decodes its YAML documents.
func rbacDocs(t *testing.T, args ...string) []rbacv1.ClusterRole {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"rbac"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("firebreak rbac %v = %d: %s", args, code, stderr.String())
	}
	var out []rbacv1.ClusterRole
	for _, doc := range strings.Split(stdout.String(), "\n---\n") {
		var r rbacv1.ClusterRole // a Role decodes into the same shape
		if err := yaml.UnmarshalStrict([]byte(doc), &r); err != nil {
			t.Fatalf("decode %q: %v", doc, err)
		}
		out = append(out, r)
	}
	return out
}

// permissions flattens rules to "group/resource verb" strings.
func permissions(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, g+"/"+res+" "+v)
				}
			}
		}
	}
	return out
}

// TestRBACExamplesMinimal: the examples restart and scale Deployments only,
// so the role names deployments (and their scale subresource) and nothing
// else: no daemonsets, no statefulsets, no leases (clustered mode elects
// its leader in etcd, so no mode needs them).
func TestRBACExamplesMinimal(t *testing.T) {
	docs := rbacDocs(t, "--playbooks", "../../playbooks/examples")
	if len(docs) != 1 || docs[0].Kind != "ClusterRole" {
		t.Fatalf("want one ClusterRole, got %+v", docs)
	}
	got := strings.Join(permissions(docs[0].Rules), "; ")
	want := "apps/deployments get; apps/deployments patch; apps/deployments/scale get; apps/deployments/scale update"
	if got != want {
		t.Errorf("permissions:\n got %s\nwant %s", got, want)
	}
}

// TestRBACPerStep: each step's kind decides its resources; a templated kind
// needs every kind the action accepts. There is no --cluster: clustered
// mode needs no Kubernetes permission a single node does not.
func TestRBACPerStep(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sts.yaml", `name: restart-sts
match: event.name == "A"
steps:
  - action: kubernetes.restart
    with: { kind: StatefulSet, namespace: shop, name: db }
`)
	write("any.yaml", `name: scale-any
match: event.name == "B"
steps:
  - action: kubernetes.scale
    with: { kind: "{{ event.labels.kind }}", namespace: shop, name: "{{ event.workload }}", delta: 1, max: 4 }
  - action: webhook.notify
    with: { url: "https://hooks.example/x", body: { a: 1 } }
`)
	docs := rbacDocs(t, "--playbooks", dir)
	if len(docs) != 1 {
		t.Fatalf("want one ClusterRole, got %d documents", len(docs))
	}
	got := strings.Join(permissions(docs[0].Rules), "; ")
	want := "apps/statefulsets get; apps/statefulsets patch; " +
		"apps/deployments/scale get; apps/deployments/scale update; apps/statefulsets/scale get; apps/statefulsets/scale update"
	if got != want {
		t.Errorf("cluster role:\n got %s\nwant %s", got, want)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"rbac", "--playbooks", dir, "--cluster"}, &stdout, &stderr); code != 2 || stdout.Len() != 0 {
		t.Errorf("rbac --cluster = %d, stdout %q: want the usage error of an unknown flag", code, stdout.String())
	}
}

func TestRBACBadArgs(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"rbac", "extra"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage") {
		t.Errorf("rbac extra = %d, %q", code, stderr.String())
	}
}

// TestVersion: version, commit and Go version, from -ldflags or else from
// the toolchain's VCS stamp.
func TestVersion(t *testing.T) {
	oldV, oldC := version, commit
	t.Cleanup(func() { version, commit = oldV, oldC })
	version, commit = "v1.2.3", "abc123"
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("version = %d: %s", code, stderr.String())
	}
	want := "firebreak v1.2.3 commit abc123 " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if stdout.String() != want {
		t.Errorf("version printed %q, want %q", stdout.String(), want)
	}

	commit = ""
	info := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "deadbeef"}, {Key: "vcs.modified", Value: "true"}}}
	if got := buildCommit(info, true); got != "deadbeef-dirty" {
		t.Errorf("buildCommit(vcs) = %q", got)
	}
	if got := buildCommit(nil, false); got != "unknown" {
		t.Errorf("buildCommit(none) = %q", got)
	}
	if code := run([]string{"version", "x"}, &stdout, &stderr); code != 2 {
		t.Errorf("version x = %d, want 2", code)
	}
}
