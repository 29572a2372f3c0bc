package app_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/firebreak/firebreak/actions/kubernetes/kubetest"
	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

const restartPlaybook = `
name: restart-crashlooping
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubePodCrashLooping"
dedupe: { key: 'event.namespace + "/" + event.labels.deployment', window: 15m }
steps:
  - action: kubernetes.restart
    with: { kind: Deployment, namespace: "{{ event.namespace }}", name: "{{ event.labels.deployment }}" }
`

// TestRestartThroughARealAPIServer drives kubernetes.restart from an
// Alertmanager webhook against a real kube-apiserver, configured the way a
// user would (a kubeconfig file): the first alert restarts the Deployment,
// a second alert for it inside the dedupe window is refused and does not
// touch it again.
func TestRestartThroughARealAPIServer(t *testing.T) {
	env := kubetest.New(t, kubetest.Options{Authorization: kubetest.AlwaysAllow})
	rc := env.AdminConfig()
	c, err := kclient.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := int32(2)
	d, err := c.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "cart-api"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cart"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/cart:1"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No controllers run: write the settled status they would.
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	if _, err := c.AppsV1().Deployments("shop").UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, rc.Host, rc.TLSClientConfig.CAFile, rc.BearerToken)
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := apptest.Config(t, restartPlaybook)
	cfg.Actions.Kubernetes.Kubeconfig = kubeconfig
	a := apptest.Start(t, cfg, app.Options{})
	if _, forced := a.Registry.ForcedDryRun("kubernetes.restart"); forced {
		t.Fatal("kubernetes.restart is in dry-run although a kubeconfig is configured")
	}

	alert := func(fp string, started time.Time) []byte {
		return apptest.AlertmanagerPayload("firing", apptest.Alert{
			Labels:   map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "cart-api", "pod": "cart-api-" + fp},
			StartsAt: started, Fingerprint: fp})
	}
	if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", alert("p1", time.Now())); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, b)
	}
	apptest.WaitFor(t, 30*time.Second, "the restart", func() bool {
		return len(auditRecords(t, a, audit.Query{Kind: audit.KindStepSucceeded})) == 1
	})
	after, err := c.AppsV1().Deployments("shop").Get(ctx, "cart-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" || after.Generation != d.Generation+1 {
		t.Fatalf("after the restart: annotations %v, generation %d (was %d)", after.Spec.Template.Annotations, after.Generation, d.Generation)
	}
	rec := auditRecords(t, a, audit.Query{Kind: audit.KindStepSucceeded})[0]
	if before, ok := rec.Data["before"].(map[string]any); !ok || before["resourceVersion"] == nil {
		t.Fatalf("the audit record lacks what the action observed before: %v", rec.Data)
	}

	// Another pod of the same Deployment crash-loops a minute later: a new
	// event, the same dedupe key.
	if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", alert("p2", time.Now().Add(time.Minute))); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, b)
	}
	apptest.WaitFor(t, 30*time.Second, "the dedupe refusal", func() bool {
		return len(auditRecords(t, a, audit.Query{Kind: audit.KindStepRefused, Outcome: "deduped"})) == 1
	})
	again, err := c.AppsV1().Deployments("shop").Get(ctx, "cart-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Generation != after.Generation || again.ResourceVersion != after.ResourceVersion {
		t.Fatalf("the deduped alert changed the Deployment: generation %d → %d, resourceVersion %s → %s",
			after.Generation, again.Generation, after.ResourceVersion, again.ResourceVersion)
	}
}
