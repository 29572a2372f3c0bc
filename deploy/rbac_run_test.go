package deploy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	kube "github.com/firebreak/firebreak/actions/kubernetes"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// restartAsServiceAccount runs kubernetes.restart, for real, as the chart's
// service account (a token from the TokenRequest API): the example
// playbook's restart of a Deployment succeeds, the same action on a
// DaemonSet is refused by the API server.
func restartAsServiceAccount(t *testing.T, c kclient.Interface, admin *rest.Config, ns, sa string) {
	t.Helper()
	ctx := t.Context()
	createNamespace(t, c, "shop")
	labels := map[string]string{"app": "cart"}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/cart:1"}}},
	}
	replicas := int32(2)
	d, err := c.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "cart"},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No controllers run: write the settled status a controller would.
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	if _, err := c.AppsV1().Deployments("shop").UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppsV1().DaemonSets("shop").Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	tok, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	cfg := rest.CopyConfig(admin)
	cfg.BearerToken = tok.Status.Token
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	k, err := kube.New(kube.Config{REST: cfg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	runIt := func(params map[string]any) error {
		a := k.Restart()
		if err := a.Validate(params, true); err != nil {
			t.Fatalf("validate %v: %v", params, err)
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := a.Run(rctx, actions.Request{Params: params, Playbook: "restart-crashlooping-deployment", Attempt: 1})
		return err
	}
	if err := runIt(map[string]any{"kind": kube.KindDeployment, "namespace": "shop", "name": "cart"}); err != nil {
		t.Fatalf("restart Deployment as the chart's service account: %v", err)
	}
	got, err := c.AppsV1().Deployments("shop").Get(ctx, "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Template.Annotations[kube.RestartedAtAnnotation] != "2026-12-06T12:00:00Z" {
		t.Errorf("deployment not restarted: annotations %v", got.Spec.Template.Annotations)
	}
	err = runIt(map[string]any{"kind": kube.KindDaemonSet, "namespace": "shop", "name": "agent"})
	if !errors.Is(err, kube.ErrForbidden) {
		t.Errorf("restart DaemonSet as the chart's service account: %v, want ErrForbidden", err)
	}
}

func ptr[T any](v T) *T { return &v }
