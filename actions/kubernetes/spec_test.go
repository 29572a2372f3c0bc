package kubernetes_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	kube "github.com/firebreak/firebreak/actions/kubernetes"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func offline() *kube.Cluster {
	return kube.Offline(kube.Config{Now: func() time.Time { return fixedNow }})
}

func TestSpecs(t *testing.T) {
	reg := actions.NewRegistry()
	for _, a := range offline().Actions() {
		if err := reg.Register(a); err != nil {
			t.Fatal(err)
		}
		spec := a.Spec()
		if spec.Description == "" || len(spec.Params) == 0 || len(spec.Permissions) == 0 || !spec.Destructive {
			t.Errorf("%s: incomplete spec %+v", spec.ID, spec)
		}
		for _, p := range spec.Params {
			if p.Doc == "" {
				t.Errorf("%s: parameter %s has no doc", spec.ID, p.Name)
			}
		}
		if err := a.Validate(spec.Example, true); err != nil {
			t.Errorf("%s: example does not validate: %v", spec.ID, err)
		}
		if got := a.Target(spec.Example); got.String() != "Deployment/shop/cart" {
			t.Errorf("%s: Target(example) = %q", spec.ID, got)
		}
	}
	if got := reg.IDs(); strings.Join(got, " ") != "kubernetes.restart kubernetes.scale" {
		t.Errorf("ids = %v", got)
	}
	if !offline().Scale().Spec().Reversible || offline().Restart().Spec().Reversible {
		t.Error("scale is reversible, restart is not")
	}
	if got := strings.Join(offline().Scale().Spec().Permissions, "; "); got != "apps/deployments/scale: get, update; apps/statefulsets/scale: get, update" {
		t.Errorf("scale permissions = %q", got)
	}
}

func TestValidate(t *testing.T) {
	k := kube.Offline(kube.Config{ProtectedNamespaces: []string{"prod-core"}})
	cases := []struct {
		name   string
		action actions.Action
		params map[string]any
		final  bool
		want   []string // fragments, one per expected problem; nil means valid
	}{
		{"restart ok", k.Restart(), map[string]any{"namespace": "shop", "name": "cart"}, true, nil},
		{"restart templated at load time", k.Restart(), map[string]any{"kind": "StatefulSet"}, false, nil},
		{"restart missing name", k.Restart(), map[string]any{"namespace": "shop"}, true, []string{"with.name: is required"}},
		{"restart bad kind", k.Restart(), map[string]any{"kind": "Pod", "namespace": "shop", "name": "cart"}, true,
			[]string{"with.kind: must be one of [Deployment StatefulSet DaemonSet]"}},
		{"restart protected namespace", k.Restart(), map[string]any{"namespace": "prod-core", "name": "cart"}, false,
			[]string{`with.namespace: "prod-core" is a protected namespace`}},
		{"restart bad names", k.Restart(), map[string]any{"namespace": "Shop_1", "name": "cart/x"}, false,
			[]string{`with.namespace: "Shop_1" is not a valid namespace`, `with.name: "cart/x" is not a valid object name`}},
		{"restart negative min_ready", k.Restart(), map[string]any{"namespace": "shop", "name": "cart", "min_ready": -1}, true,
			[]string{"with.min_ready: must be at least 0"}},
		{"scale ok", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "delta": -1, "min": 1, "max": 4}, true, nil},
		{"scale daemonset", k.Scale(), map[string]any{"kind": "DaemonSet", "namespace": "shop", "name": "cart", "replicas": 2, "max": 4}, true,
			[]string{"with.kind: must be one of [Deployment StatefulSet]"}},
		{"scale replicas and delta", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "replicas": 2, "delta": 1, "max": 4}, true,
			[]string{"with.delta: cannot be combined with replicas"}},
		{"scale neither", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "max": 4}, true,
			[]string{"with.replicas: one of replicas, delta and restore: true is required"}},
		{"scale restore ok", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "restore": true, "max": 4}, true, nil},
		{"scale restore with replicas", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "restore": true, "replicas": 2, "max": 4}, false,
			[]string{"with.replicas: cannot be combined with restore: true"}},
		{"scale restore with delta", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "restore": true, "delta": 1, "max": 4}, true,
			[]string{"with.delta: cannot be combined with restore: true"}},
		{"scale restore false needs a count", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "restore": false, "max": 4}, true,
			[]string{"with.replicas: one of replicas, delta and restore: true is required"}},
		{"scale neither at load time", k.Scale(), map[string]any{"max": 4}, false, nil},
		{"scale without max", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "delta": 1}, true,
			[]string{"with.max: is required"}},
		{"scale zero delta", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "delta": 0, "max": 4}, true,
			[]string{"with.delta: must not be 0"}},
		{"scale min above max", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "delta": 1, "min": 5, "max": 4}, true,
			[]string{"with.min: must not be above max (5 > 4)"}},
		{"scale replicas above max", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "replicas": 9, "max": 4}, true,
			[]string{"with.replicas: must be at most max (4)"}},
		{"scale replicas below default min", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "replicas": 0, "max": 4}, true,
			[]string{"with.replicas: must be at least min (1)"}},
		{"scale unknown param", k.Scale(), map[string]any{"namespace": "shop", "name": "cart", "replicas": 2, "max": 4, "force": true}, true,
			[]string{"with.force: unknown parameter for kubernetes.scale"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.action.Validate(tc.params, tc.final)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tc.want)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tc.want) {
				t.Errorf("Validate = %q: %d problems, want %d", err, n, len(tc.want))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, want it to contain %q", err, w)
				}
			}
			var pe *actions.ParamError
			if !errors.As(err, &pe) {
				t.Errorf("Validate error %T is not a ParamError", err)
			}
		})
	}
}

func TestOffline(t *testing.T) {
	k := offline()
	params := map[string]any{"namespace": "shop", "name": "cart"}
	res, err := k.Restart().Run(t.Context(), actions.Request{Params: params, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "would restart Deployment/shop/cart (no cluster configured: nothing checked): set pod template annotation kubectl.kubernetes.io/restartedAt=" + stamp
	if res.Summary != want {
		t.Errorf("Summary = %q, want %q", res.Summary, want)
	}
	_, err = k.Restart().Run(t.Context(), actions.Request{Params: params})
	mustRefuse(t, err, kube.ErrNoCluster)

	scale := map[string]any{"namespace": "shop", "name": "cart", "delta": -1, "max": 3}
	res, err = k.Scale().Run(t.Context(), actions.Request{Params: scale, DryRun: true})
	if err != nil || res.Summary != "would scale Deployment/shop/cart by -1 replicas within 1..3 (no cluster configured: nothing checked)" {
		t.Errorf("offline dry-run scale = %q, %v", res.Summary, err)
	}
	_, err = k.Scale().Run(t.Context(), actions.Request{Params: scale})
	mustRefuse(t, err, kube.ErrNoCluster)

	// The default protected namespaces apply when none are configured.
	_, err = k.Restart().Run(t.Context(), actions.Request{Params: map[string]any{"namespace": "kube-system", "name": "coredns"}, DryRun: true})
	mustRefuse(t, err, kube.ErrProtectedNamespace)
	if k.Client() != nil {
		t.Error("offline cluster has a client")
	}
}

func TestAvailable(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")

	ok, why := kube.Available(kube.Config{})
	if ok || why != "no kubernetes cluster configured: no $KUBECONFIG, no ~/.kube/config, not running in a cluster" {
		t.Errorf("nothing configured: Available = %v, %q", ok, why)
	}
	if ok, why := kube.Available(kube.Config{Kubeconfig: filepath.Join(home, "missing")}); ok || !strings.Contains(why, "does not exist") {
		t.Errorf("missing explicit kubeconfig: Available = %v, %q", ok, why)
	}
	if ok, _ := kube.Available(kube.Config{InCluster: true}); ok {
		t.Error("in-cluster outside a cluster reported available")
	}

	env := filepath.Join(home, "env-config")
	writeFile(t, env)
	t.Setenv("KUBECONFIG", filepath.Join(home, "nope")+string(os.PathListSeparator)+env)
	if ok, why := kube.Available(kube.Config{}); !ok || !strings.Contains(why, env) {
		t.Errorf("$KUBECONFIG: Available = %v, %q", ok, why)
	}
	t.Setenv("KUBECONFIG", "")
	def := filepath.Join(home, ".kube", "config")
	writeFile(t, def)
	if ok, why := kube.Available(kube.Config{}); !ok || why != "kubeconfig "+def {
		t.Errorf("~/.kube/config: Available = %v, %q", ok, why)
	}
}

func writeFile(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestClusterRoleYAML(t *testing.T) {
	for _, tc := range []struct {
		golden string
		ids    []string
	}{
		{"clusterrole-all.yaml", []string{kube.ScaleID, "slack.notify", kube.RestartID, kube.RestartID}},
		{"clusterrole-scale.yaml", []string{kube.ScaleID}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			got, err := kube.ClusterRoleYAML(kube.ClusterRole(tc.ids))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("ClusterRoleYAML mismatch (run with -update to accept):\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}
