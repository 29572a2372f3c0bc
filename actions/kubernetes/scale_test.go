package kubernetes_test

import (
	"testing"

	kube "github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/actions/kubernetes/kubetest"
)

func TestScale(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Scale()
	cases := []struct {
		name     string
		kind     string
		start    int32
		with     map[string]any
		want     int32
		summary  string
		noChange bool
	}{
		{name: "absolute", kind: kube.KindDeployment, start: 2, with: map[string]any{"replicas": 5, "max": 10},
			want: 5, summary: "scaled Deployment/%s/web from 2 to 5 replicas"},
		{name: "delta up", kind: kube.KindDeployment, start: 2, with: map[string]any{"delta": 2, "min": 1, "max": 4},
			want: 4, summary: "scaled Deployment/%s/web from 2 to 4 replicas"},
		{name: "delta down", kind: kube.KindStatefulSet, start: 3, with: map[string]any{"delta": -1, "min": 2, "max": 5},
			want: 2, summary: "scaled StatefulSet/%s/web from 3 to 2 replicas"},
		{name: "to zero when min allows", kind: kube.KindDeployment, start: 1, with: map[string]any{"replicas": 0, "min": 0, "max": 3},
			want: 0, summary: "scaled Deployment/%s/web from 1 to 0 replicas"},
		{name: "already there", kind: kube.KindDeployment, start: 3, with: map[string]any{"replicas": 3, "max": 3},
			want: 3, summary: "Deployment/%s/web already has 3 replicas; nothing to change", noChange: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, c)
			create(t, c, tc.kind, ns, "web", tc.start, settled)
			before := get(t, c, tc.kind, ns, "web")
			params := map[string]any{"kind": tc.kind, "namespace": ns, "name": "web"}
			for k, v := range tc.with {
				params[k] = v
			}
			res, err := run(t, a, params, false)
			if err != nil {
				t.Fatalf("scale: %v", err)
			}
			after := get(t, c, tc.kind, ns, "web")
			if after.replicas != tc.want {
				t.Errorf("spec.replicas = %d, want %d", after.replicas, tc.want)
			}
			if changed := after.resourceVersion != before.resourceVersion; changed == tc.noChange {
				t.Errorf("resourceVersion %s → %s, want changed=%v", before.resourceVersion, after.resourceVersion, !tc.noChange)
			}
			if got := res.Output["previous_replicas"]; got != int(tc.start) {
				t.Errorf("Output.previous_replicas = %v, want %d", got, tc.start)
			}
			if res.Before["replicas"] != int(tc.start) || res.After["replicas"] != int(tc.want) {
				t.Errorf("Before/After replicas = %v/%v, want %d/%d", res.Before["replicas"], res.After["replicas"], tc.start, tc.want)
			}
			if res.Before["resourceVersion"] != before.resourceVersion || res.After["resourceVersion"] != after.resourceVersion {
				t.Errorf("Before/After resourceVersion = %v/%v, want %s/%s", res.Before["resourceVersion"], res.After["resourceVersion"], before.resourceVersion, after.resourceVersion)
			}
			if want := sprintf(tc.summary, ns); res.Summary != want {
				t.Errorf("Summary = %q, want %q", res.Summary, want)
			}
		})
	}
}

func TestScaleRefusesBeyondBounds(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Scale()
	cases := []struct {
		name      string
		start     int32
		with      map[string]any
		fragments []string
	}{
		{name: "delta above max", start: 9, with: map[string]any{"delta": 2, "max": 10},
			fragments: []string{"from 9 to 11", "above max 10"}},
		{name: "delta below min", start: 2, with: map[string]any{"delta": -2, "min": 1, "max": 10},
			fragments: []string{"from 2 to 0", "below min 1"}},
		{name: "delta below default min of 1", start: 1, with: map[string]any{"delta": -1, "max": 10},
			fragments: []string{"from 1 to 0", "below min 1"}},
		{name: "current already above max", start: 12, with: map[string]any{"delta": -1, "max": 10},
			fragments: []string{"from 12 to 11", "above max 10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, c)
			create(t, c, kube.KindDeployment, ns, "web", tc.start, settled)
			before := get(t, c, kube.KindDeployment, ns, "web")
			params := map[string]any{"namespace": ns, "name": "web"}
			for k, v := range tc.with {
				params[k] = v
			}
			for _, dryRun := range []bool{true, false} {
				res, err := run(t, a, params, dryRun)
				mustRefuse(t, err, kube.ErrOutOfBounds, tc.fragments...)
				if res.Before["replicas"] != int(tc.start) {
					t.Errorf("refusal Before = %v, want replicas %d", res.Before, tc.start)
				}
			}
			if after := get(t, c, kube.KindDeployment, ns, "web"); after != before {
				t.Errorf("refused scale changed the object: %+v → %+v", before, after)
			}
		})
	}
}

func TestScaleDryRunChangesNothing(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Scale()
	for _, kind := range []string{kube.KindDeployment, kube.KindStatefulSet} {
		t.Run(kind, func(t *testing.T) {
			ns := namespace(t, c)
			create(t, c, kind, ns, "web", 2, settled)
			before := get(t, c, kind, ns, "web")
			res, err := run(t, a, map[string]any{"kind": kind, "namespace": ns, "name": "web", "delta": 3, "max": 5}, true)
			if err != nil {
				t.Fatalf("dry-run scale: %v", err)
			}
			if after := get(t, c, kind, ns, "web"); after != before {
				t.Errorf("object changed by a dry run: %+v → %+v", before, after)
			}
			if res.After["replicas"] != 5 || res.Output["previous_replicas"] != 2 || res.Output["dry_run"] != true {
				t.Errorf("dry run result = %+v", res)
			}
			if res.After["resourceVersion"] != before.resourceVersion {
				t.Errorf("dry run After.resourceVersion = %v, want unchanged %s", res.After["resourceVersion"], before.resourceVersion)
			}
			if want := sprintf("would scale %s/%s/web from 2 to 5 replicas (server-side dry run)", kind, ns); res.Summary != want {
				t.Errorf("Summary = %q, want %q", res.Summary, want)
			}
		})
	}
}

func TestScaleProtectedAndMissing(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Scale()
	ns := namespace(t, c)
	_, err := a.Run(t.Context(), actionsRequest(map[string]any{"namespace": "protected", "name": "web", "replicas": 2, "max": 3}))
	mustRefuse(t, err, kube.ErrProtectedNamespace)
	for _, kind := range []string{kube.KindDeployment, kube.KindStatefulSet} {
		_, err = run(t, a, map[string]any{"kind": kind, "namespace": ns, "name": "ghost", "replicas": 2, "max": 3}, false)
		mustRefuse(t, err, kube.ErrNotFound, kind+"/"+ns+"/ghost")
	}
}
