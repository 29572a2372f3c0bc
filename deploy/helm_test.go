package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	kube "github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/cmd/firebreak/app"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

var chartDir = filepath.Join(root, "deploy", "helm", "firebreak")

// Values for clustered mode, with the Prometheus Operator objects on.
var clusteredSet = []string{
	"--set", "cluster.enabled=true",
	"--set", "cluster.etcd.endpoints={https://etcd-0.etcd:2379,https://etcd-1.etcd:2379,https://etcd-2.etcd:2379}",
	"--set", "cluster.etcd.tlsSecret=firebreak-etcd-client",
	"--set", "serviceMonitor.enabled=true",
	"--set", "prometheusRule.enabled=true",
	"--set", "secrets.files[0].secretName=firebreak-slack",
	"--set", "secrets.files[0].mountPath=/run/secrets/slack",
}

var singleSet = []string{"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), errors.New(err.Error() + ": " + stderr.String())
	}
	return stdout.String(), nil
}

// render runs helm template and decodes every object.
func render(t *testing.T, namespace string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", "fb", chartDir, "--namespace", namespace}, set...)...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	dec := k8syaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decode rendered manifests: %v", err)
		}
		if m == nil {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

// byKind indexes objects by kind; it fails on two of one kind unless allowed.
func byKind(t *testing.T, objs []*unstructured.Unstructured) map[string][]*unstructured.Unstructured {
	t.Helper()
	out := map[string][]*unstructured.Unstructured{}
	for _, o := range objs {
		out[o.GetKind()] = append(out[o.GetKind()], o)
	}
	return out
}

func kinds(m map[string][]*unstructured.Unstructured) []string {
	var ks []string
	for k, v := range m {
		for range v {
			ks = append(ks, k)
		}
	}
	sortStrings(ks)
	return ks
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// into converts an unstructured object to a typed one, strictly.
func into[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &v, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

func TestHelmLint(t *testing.T) {
	for name, set := range map[string][]string{"single": singleSet, "clustered": clusteredSet} {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", chartDir}, set...)...)
			if err != nil || !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// podChecks are what both modes' pods must hold.
func podChecks(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v", psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext = %+v", sc)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe = %+v", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe = %+v", c.ReadinessProbe)
	}
	if !reflect.DeepEqual(c.Args, []string{"--config=/etc/firebreak/config/firebreak.yaml"}) {
		t.Errorf("args = %q", c.Args)
	}
	for _, e := range c.Env {
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s is not from a Secret: %+v", e.Name, e)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["data"] != "/data" || mounts["config"] != "/etc/firebreak/config" {
		t.Errorf("mounts = %v", mounts)
	}
}

// loadRenderedConfig writes the ConfigMap's firebreak.yaml to a file and
// returns its text.
func renderedConfig(t *testing.T, k map[string][]*unstructured.Unstructured) (string, string) {
	t.Helper()
	for _, o := range k["ConfigMap"] {
		cm := into[corev1.ConfigMap](t, o)
		if body, ok := cm.Data["firebreak.yaml"]; ok {
			p := filepath.Join(t.TempDir(), "firebreak.yaml")
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			return body, p
		}
	}
	t.Fatal("no ConfigMap with firebreak.yaml")
	return "", ""
}

func TestHelmTemplateSingleNode(t *testing.T) {
	k := byKind(t, render(t, "firebreak"))
	want := "ClusterRole ClusterRoleBinding ConfigMap Service ServiceAccount StatefulSet"
	if got := strings.Join(kinds(k), " "); got != want {
		t.Errorf("objects = %s, want %s", got, want)
	}
	sts := into[appsv1.StatefulSet](t, k["StatefulSet"][0])
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", sts.Spec.Replicas)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Errorf("volumeClaimTemplates = %+v", sts.Spec.VolumeClaimTemplates)
	}
	podChecks(t, sts.Spec.Template.Spec)

	// The rendered config is one today's Firebreak loads: strict keys,
	// listening beyond loopback with a source that has auth.
	_, path := renderedConfig(t, k)
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatalf("firebreak cannot load the chart's config: %v", err)
	}
	if cfg.Listen != "0.0.0.0:9095" || cfg.DataDir != "/data" || cfg.Sources["alertmanager"].Auth == nil {
		t.Errorf("config = listen %q data_dir %q sources %+v", cfg.Listen, cfg.DataDir, cfg.Sources)
	}
}

func TestHelmTemplateClustered(t *testing.T) {
	k := byKind(t, render(t, "firebreak", clusteredSet...))
	want := "ClusterRole ClusterRoleBinding ConfigMap Deployment PodDisruptionBudget PrometheusRule Service ServiceAccount ServiceMonitor"
	if got := strings.Join(kinds(k), " "); got != want {
		t.Errorf("objects = %s, want %s", got, want)
	}
	d := into[appsv1.Deployment](t, k["Deployment"][0])
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", d.Spec.Replicas)
	}
	podChecks(t, d.Spec.Template.Spec)
	spread := d.Spec.Template.Spec.TopologySpreadConstraints
	if len(spread) == 0 || spread[0].TopologyKey != "kubernetes.io/hostname" || spread[0].MaxSkew != 1 ||
		!reflect.DeepEqual(spread[0].LabelSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("topology spread = %+v", spread)
	}
	pdb := into[policyv1.PodDisruptionBudget](t, k["PodDisruptionBudget"][0])
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 ||
		!reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("pdb = %+v", pdb.Spec)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	if v := vols["etcd-tls"]; v.Secret == nil || v.Secret.SecretName != "firebreak-etcd-client" {
		t.Errorf("etcd-tls volume = %+v", v)
	}
	if v := vols["secret-0"]; v.Secret == nil || v.Secret.SecretName != "firebreak-slack" {
		t.Errorf("secret file volume = %+v", v)
	}

	// The config names the etcd cluster as issue 15's store.etcd keys do,
	// with the TLS files where the Secret is mounted.
	body, _ := renderedConfig(t, k)
	var cfg struct {
		Store struct {
			Etcd struct {
				Endpoints []string          `json:"endpoints"`
				Prefix    string            `json:"prefix"`
				TLS       map[string]string `json:"tls"`
			} `json:"etcd"`
		} `json:"store"`
	}
	if err := yaml.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Store.Etcd.Endpoints) != 3 || cfg.Store.Etcd.Prefix != "/firebreak" ||
		cfg.Store.Etcd.TLS["ca_file"] != "/etc/firebreak/etcd-tls/ca.crt" || cfg.Store.Etcd.TLS["key_file"] != "/etc/firebreak/etcd-tls/tls.key" {
		t.Errorf("store.etcd = %+v", cfg.Store.Etcd)
	}

	// Refusals and secrets: TestHelmRefusals, TestHelmSecretsNeverInConfigMap.
}

// TestChartClusterRoleIsRBACOutput: the chart's default ClusterRole is what
// `firebreak rbac` prints for the example playbooks.
func TestChartClusterRoleIsRBACOutput(t *testing.T) {
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	set, _, err := app.LoadPlaybooks(app.Defaults(), reg) // the embedded examples
	if err != nil {
		t.Fatal(err)
	}
	want := kube.ClusterRoleFor(app.KubernetesUses(set)).Rules
	for name, s := range map[string][]string{"single": nil, "clustered": clusteredSet} {
		k := byKind(t, render(t, "firebreak", s...))
		got := into[rbacv1.ClusterRole](t, k["ClusterRole"][0]).Rules
		if !reflect.DeepEqual(got, want) {
			gy, _ := yaml.Marshal(got)
			wy, _ := yaml.Marshal(want)
			t.Errorf("%s: chart ClusterRole rules differ from firebreak rbac's; put its rules in values.yaml rbac.rules\n--- chart\n%s--- firebreak rbac\n%s", name, gy, wy)
		}
	}
}

// TestChartPrometheusRuleIsTheTestedRules: the chart's rules file is a
// byte-for-byte copy of the promtool-tested one, and the rendered
// PrometheusRule carries it unchanged (no Helm templating of $labels).
func TestChartPrometheusRuleIsTheTestedRules(t *testing.T) {
	tested, err := os.ReadFile(filepath.Join(root, "testdata", "alerts", "firebreak-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile(filepath.Join(chartDir, "files", "firebreak-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tested, copied) {
		t.Fatal("deploy/helm/firebreak/files/firebreak-rules.yml differs from testdata/alerts/firebreak-rules.yml: copy it")
	}
	var want map[string]any
	if err := yaml.Unmarshal(tested, &want); err != nil {
		t.Fatal(err)
	}
	k := byKind(t, render(t, "firebreak", singleSet...))
	pr := k["PrometheusRule"]
	if len(pr) != 1 {
		t.Fatalf("%d PrometheusRules", len(pr))
	}
	if got := pr[0].Object["spec"]; !reflect.DeepEqual(jsonRound(t, got), jsonRound(t, want)) {
		t.Errorf("PrometheusRule spec differs from the tested rules:\n%v", got)
	}
	// The ServiceMonitor scrapes the Service's named port.
	sm := k["ServiceMonitor"][0]
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	svc := into[corev1.Service](t, k["Service"][0])
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != svc.Spec.Ports[0].Name || eps[0].(map[string]any)["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %v do not scrape Service port %q", eps, svc.Spec.Ports[0].Name)
	}
}

func jsonRound(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// createNamespace makes ns for real (a dry-run create needs it to exist).
func createNamespace(t *testing.T, c kclient.Interface, ns string) {
	t.Helper()
	_, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// TestHelmDryRunOnAPIServer sends every rendered object of both modes to the
// real kube-apiserver as a server-side dry run with strict field
// validation: the API server checks each against its own schema (an unknown
// or misplaced field is an error) and runs admission, and stores nothing.
func TestHelmDryRunOnAPIServer(t *testing.T) {
	env := cluster.Env(t)
	cfg := env.AdminConfig()
	c, err := kclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clusteredPassword := append(append([]string(nil), clusteredSet...),
		"--set", "cluster.etcd.username=firebreak", "--set", "cluster.etcd.passwordSecret.name=firebreak-etcd")
	for name, set := range map[string][]string{"single": singleSet, "clustered": clusteredSet, "clustered-password": clusteredPassword} {
		t.Run(name, func(t *testing.T) {
			ns := "fb-dry-" + name
			createNamespace(t, c, ns)
			applied := 0
			for _, o := range render(t, ns, set...) {
				gvk := o.GroupVersionKind()
				if gvk.Group == "monitoring.coreos.com" {
					// ServiceMonitor and PrometheusRule are Prometheus
					// Operator CRDs a bare API server does not serve; they
					// are checked against the tested rules and the Service
					// in TestChartPrometheusRuleIsTheTestedRules.
					continue
				}
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil {
					t.Fatalf("%s: %v", gvk, err)
				}
				var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
				if m.Scope.Name() == "namespace" {
					o.SetNamespace(ns)
					ri = dyn.Resource(m.Resource).Namespace(ns)
				}
				got, err := ri.Create(t.Context(), o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
				if err != nil {
					t.Errorf("dry-run create %s %s: %v", o.GetKind(), o.GetName(), err)
					continue
				}
				if got.GetUID() == "" && got.GetName() == "" {
					t.Errorf("dry run of %s answered an empty object", o.GetKind())
				}
				applied++
			}
			if applied < 6 {
				t.Errorf("only %d objects dry-run", applied)
			}
			// A dry run stores nothing.
			if _, err := c.CoreV1().Services(ns).Get(t.Context(), "fb-firebreak", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("after a dry run the Service exists: %v", err)
			}
		})
	}
	// The check can fail: a field the schema does not know is refused.
	ns := "fb-dry-single"
	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "bad", "namespace": ns},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(80), "targetPortt": "http"}}},
	}}
	if _, err := dyn.Resource(corev1.SchemeGroupVersion.WithResource("services")).Namespace(ns).Create(t.Context(), bad,
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}); err == nil {
		t.Error("a Service with an unknown field passed the strict dry run")
	}
}

// TestChartRBAC creates the chart's ServiceAccount, ClusterRole and binding
// in the real API server and asks it, with SubjectAccessReviews for that
// account, what the example playbooks may do; then restarts a Deployment
// as the account, with a token the API server issued for it.
func TestChartRBAC(t *testing.T) {
	env := cluster.Env(t)
	c, err := kclient.NewForConfig(env.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ns := "fb-rbac"
	createNamespace(t, c, ns)
	for _, o := range render(t, ns, clusteredSet...) {
		switch o.GetKind() {
		case "ServiceAccount":
			sa := into[corev1.ServiceAccount](t, o)
			_, err = c.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
		case "ClusterRole":
			_, err = c.RbacV1().ClusterRoles().Create(ctx, into[rbacv1.ClusterRole](t, o), metav1.CreateOptions{})
		case "ClusterRoleBinding":
			_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, into[rbacv1.ClusterRoleBinding](t, o), metav1.CreateOptions{})
		case "Role": // none today; applied if the chart ever renders one
			_, err = c.RbacV1().Roles(ns).Create(ctx, into[rbacv1.Role](t, o), metav1.CreateOptions{})
		case "RoleBinding":
			_, err = c.RbacV1().RoleBindings(ns).Create(ctx, into[rbacv1.RoleBinding](t, o), metav1.CreateOptions{})
		default:
			continue
		}
		if err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	user := "system:serviceaccount:" + ns + ":fb-firebreak"
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	allowed := func(verb, group, resource, sub, namespace string) bool {
		t.Helper()
		r, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: group, Resource: resource, Subresource: sub,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SubjectAccessReview: %v", err)
		}
		return r.Status.Allowed
	}
	type check struct{ verb, group, resource, sub, ns string }
	yes := []check{
		{"patch", "apps", "deployments", "", "shop"},
		{"get", "apps", "deployments", "", "shop"},
		{"update", "apps", "deployments", "scale", "shop"},
		{"get", "apps", "deployments", "scale", "shop"},
	}
	no := []check{
		{"delete", "", "pods", "", "shop"},
		{"get", "", "secrets", "", "shop"},
		{"get", "", "secrets", "", ns},
		{"list", "", "secrets", "", ""},
		{"patch", "apps", "daemonsets", "", "shop"},
		{"patch", "apps", "statefulsets", "", "shop"},
		{"delete", "apps", "deployments", "", "shop"},
		{"update", "apps", "deployments", "", "shop"},
		{"list", "apps", "deployments", "", ""},
		{"create", "", "pods", "exec", "shop"},
		// Clustered mode elects its leader in etcd: no Leases anywhere,
		// not even in its own namespace.
		{"update", "coordination.k8s.io", "leases", "", "shop"},
		{"update", "coordination.k8s.io", "leases", "", ns},
		{"create", "coordination.k8s.io", "leases", "", ns},
		{"get", "coordination.k8s.io", "leases", "", ns},
	}
	// The authorizer learns new bindings from a watch: wait for the grants.
	deadline := time.Now().Add(30 * time.Second)
	for _, ck := range yes {
		for !allowed(ck.verb, ck.group, ck.resource, ck.sub, ck.ns) {
			if time.Now().After(deadline) {
				t.Fatalf("%s may not %s %s/%s/%s in %q", user, ck.verb, ck.group, ck.resource, ck.sub, ck.ns)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, ck := range no {
		if allowed(ck.verb, ck.group, ck.resource, ck.sub, ck.ns) {
			t.Errorf("%s may %s %s/%s/%s in %q; the chart grants too much", user, ck.verb, ck.group, ck.resource, ck.sub, ck.ns)
		}
	}

	restartAsServiceAccount(t, c, env.AdminConfig(), ns, "fb-firebreak")
}

// TestHelmPlaybooksAndExistingConfigMaps: playbooks given as values land in
// a ConfigMap that Firebreak loads from the path the config names; existing
// ConfigMaps replace the chart's.
func TestHelmPlaybooksAndExistingConfigMaps(t *testing.T) {
	restart, err := os.ReadFile(filepath.Join(root, "playbooks", "examples", "restart-crashlooping.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	values := filepath.Join(t.TempDir(), "values.yaml")
	vb, err := yaml.Marshal(map[string]any{"playbooks": map[string]string{"restart.yaml": string(restart)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(values, vb, 0o600); err != nil {
		t.Fatal(err)
	}
	k := byKind(t, render(t, "firebreak", "-f", values))
	var pbDir string
	for _, o := range k["ConfigMap"] {
		cm := into[corev1.ConfigMap](t, o)
		if body, ok := cm.Data["restart.yaml"]; ok {
			pbDir = t.TempDir()
			if err := os.WriteFile(filepath.Join(pbDir, "restart.yaml"), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if pbDir == "" {
		t.Fatal("no playbooks ConfigMap")
	}
	_, path := renderedConfig(t, k)
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Playbooks, []string{"/etc/firebreak/playbooks"}) {
		t.Errorf("config playbooks = %q", cfg.Playbooks)
	}
	sts := into[appsv1.StatefulSet](t, k["StatefulSet"][0])
	mounted := false
	for _, m := range sts.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounted = mounted || (m.Name == "playbooks" && m.MountPath == cfg.Playbooks[0])
	}
	if !mounted {
		t.Error("the playbooks ConfigMap is not mounted where the config looks")
	}
	// Firebreak loads what the ConfigMap holds.
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Playbooks = []string{pbDir}
	set, _, err := app.LoadPlaybooks(cfg, reg)
	if err != nil || set.Len() != 1 {
		t.Fatalf("load the rendered playbooks: %v", err)
	}

	k = byKind(t, render(t, "firebreak", "--set", "existingConfigMap=my-config", "--set", "existingPlaybooksConfigMap=my-playbooks"))
	if len(k["ConfigMap"]) != 0 {
		t.Errorf("with existing ConfigMaps the chart still renders %d", len(k["ConfigMap"]))
	}
	vols := map[string]string{}
	for _, v := range into[appsv1.StatefulSet](t, k["StatefulSet"][0]).Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			vols[v.Name] = v.ConfigMap.Name
		}
	}
	if vols["config"] != "my-config" || vols["playbooks"] != "my-playbooks" {
		t.Errorf("ConfigMap volumes = %v", vols)
	}
}

// TestHelmRefusals: values the binary or the cluster would refuse later,
// or that would put a secret into a ConfigMap, fail `helm template` with a
// message naming the value.
func TestHelmRefusals(t *testing.T) {
	clustered := func(set ...string) []string {
		return append([]string{"--set", "cluster.enabled=true", "--set", "cluster.etcd.endpoints={https://etcd-0:2379}"}, set...)
	}
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"no endpoints", []string{"--set", "cluster.enabled=true"},
			"cluster.enabled needs cluster.etcd.endpoints (a list of etcd URLs)"},
		{"endpoints not a list", []string{"--set", "cluster.enabled=true", "--set", "cluster.etcd.endpoints=https://etcd-0:2379"},
			"cluster.etcd.endpoints must be a list of etcd URLs, such as [https://etcd-0:2379]"},
		{"endpoint without scheme", []string{"--set", "cluster.enabled=true", "--set", "cluster.etcd.endpoints={etcd-0:2379}"},
			`cluster.etcd.endpoints: "etcd-0:2379" is not an http:// or https:// URL`},
		{"plain http with TLS", []string{"--set", "cluster.enabled=true", "--set", "cluster.etcd.endpoints={http://etcd-0:2379}", "--set", "cluster.etcd.tlsSecret=etcd-client"},
			`cluster.etcd.endpoints: "http://etcd-0:2379" is plain http but cluster.etcd.tlsSecret is set`},
		{"username without password", clustered("--set", "cluster.etcd.username=firebreak"),
			"cluster.etcd.username needs cluster.etcd.passwordSecret.name and .key (an existing Secret holding the password)"},
		{"password key empty", clustered("--set", "cluster.etcd.username=firebreak", "--set", "cluster.etcd.passwordSecret.name=fb-etcd", "--set", "cluster.etcd.passwordSecret.key="),
			"cluster.etcd.username needs cluster.etcd.passwordSecret.name and .key (an existing Secret holding the password)"},
		{"password without username", clustered("--set", "cluster.etcd.passwordSecret.name=fb-etcd"),
			"cluster.etcd.passwordSecret needs cluster.etcd.username"},
		{"pdb as big as replicas", clustered("--set", "cluster.pdb.minAvailable=3"),
			"cluster.pdb.minAvailable must be below cluster.replicas, or no node could ever be drained"},
		{"config.store", clustered("--set", "config.store.etcd.prefix=/x"),
			"config.store is the chart's: set cluster.enabled and cluster.etcd.* for clustered mode instead"},
		{"config.store single node", []string{"--set", "config.store.etcd.prefix=/x"},
			"config.store is the chart's: set cluster.enabled and cluster.etcd.* for clustered mode instead"},
		{"config.cluster.node", clustered("--set", "config.cluster.node=fb-0"),
			"config.cluster.node must not be set: the replicas would share one name; each is named by its pod's hostname"},
		{"literal source token", []string{"--set", "config.sources.alertmanager.auth.token=tok-3b1e"},
			"config.sources.alertmanager.auth.token: a literal secret would be rendered into the ConfigMap; set token_env (from secrets.env) or token_file (from secrets.files) instead"},
		{"literal rotation tokens", []string{"--set", "config.sources.grafana.auth.secrets={s-1,s-2}"},
			"config.sources.grafana.auth.secrets: literal secrets would be rendered into the ConfigMap; set secrets_env (from secrets.env) or secrets_file (from secrets.files) instead"},
		{"literal API token", []string{"--set", "config.api.tokens[0].name=ops", "--set", "config.api.tokens[0].token=tok-3b1e"},
			"config.api.tokens[0].token: a literal secret would be rendered into the ConfigMap; set token_env (from secrets.env) or token_file (from secrets.files) instead"},
		{"literal Slack secret", []string{"--set", "config.approvals.signing_secret=sl-3b1e"},
			"config.approvals.signing_secret: a literal secret would be rendered into the ConfigMap; set signing_secret_env (from secrets.env) or signing_secret_file (from secrets.files) instead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"template", "fb", chartDir}, tc.set...)...)
			if err == nil {
				t.Fatalf("rendered, want the refusal %q\n%s", tc.want, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v\nwant it to say %q", err, tc.want)
			}
			for _, secret := range []string{"tok-3b1e", "sl-3b1e", "s-1"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the refusal repeats the secret %q: %v", secret, err)
				}
			}
		})
	}
}

// TestHelmSecretsNeverInConfigMap: with every secret the chart can name
// (the etcd password, a source token, an API token, Slack's from a file),
// the ConfigMap names only where each comes from, and the Deployment maps
// each Secret key into the env var the config names.
func TestHelmSecretsNeverInConfigMap(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`
cluster:
  etcd:
    username: firebreak
    passwordSecret: { name: firebreak-etcd, key: etcd-password }
config:
  log_format: json
  sources:
    alertmanager:
      auth: { type: bearer, token_env: FIREBREAK_ALERTMANAGER_TOKEN }
  api:
    tokens:
      - { name: ops, token_env: FIREBREAK_API_TOKEN }
  approvals:
    signing_secret_file: /run/secrets/slack/signing-secret
secrets:
  env:
    - { name: FIREBREAK_ALERTMANAGER_TOKEN, secretName: firebreak, key: alertmanager-token }
    - { name: FIREBREAK_API_TOKEN, secretName: firebreak-api, key: ops-token }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	k := byKind(t, render(t, "firebreak", append(clusteredSet, "-f", values)...))
	body, _ := renderedConfig(t, k)
	var cfg struct {
		Store struct {
			Etcd map[string]any `json:"etcd"`
		} `json:"store"`
	}
	if err := yaml.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	e := cfg.Store.Etcd
	if e["username"] != "firebreak" || e["password_env"] != "FIREBREAK_ETCD_PASSWORD" {
		t.Errorf("store.etcd = %v, want username firebreak and password_env FIREBREAK_ETCD_PASSWORD", e)
	}
	if _, ok := e["password"]; ok {
		t.Errorf("store.etcd has a password key: %v", e)
	}
	// No literal secret key anywhere in the rendered file.
	var all any
	if err := yaml.Unmarshal([]byte(body), &all); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for key, x := range v {
				switch key {
				case "token", "tokens", "password", "passwords", "secret", "secrets", "signing_secret", "bot_token":
					if _, nested := x.(map[string]any); !nested && !(key == "tokens" && isListOfMaps(x)) {
						t.Errorf("the ConfigMap holds %s.%s = %v", path, key, x)
					}
				}
				walk(path+"."+key, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk("firebreak.yaml", all)

	d := into[appsv1.Deployment](t, k["Deployment"][0])
	env := map[string]corev1.SecretKeySelector{}
	for _, ev := range d.Spec.Template.Spec.Containers[0].Env {
		if ev.Value != "" || ev.ValueFrom == nil || ev.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s is not from a Secret: %+v", ev.Name, ev)
			continue
		}
		env[ev.Name] = *ev.ValueFrom.SecretKeyRef
	}
	for name, want := range map[string][2]string{
		"FIREBREAK_ETCD_PASSWORD":      {"firebreak-etcd", "etcd-password"},
		"FIREBREAK_ALERTMANAGER_TOKEN": {"firebreak", "alertmanager-token"},
		"FIREBREAK_API_TOKEN":          {"firebreak-api", "ops-token"},
	} {
		if got := env[name]; got.Name != want[0] || got.Key != want[1] {
			t.Errorf("env %s from Secret %q key %q, want %q key %q", name, got.Name, got.Key, want[0], want[1])
		}
	}
	if len(env) != 3 {
		t.Errorf("env = %v, want exactly the three secrets", env)
	}
	for _, o := range render(t, "firebreak", clusteredSet...) {
		if o.GetKind() == "Secret" {
			t.Errorf("the chart renders a Secret %s", o.GetName())
		}
	}
}

func isListOfMaps(v any) bool {
	l, ok := v.([]any)
	if !ok {
		return false
	}
	for _, x := range l {
		if _, ok := x.(map[string]any); !ok {
			return false
		}
	}
	return true
}
