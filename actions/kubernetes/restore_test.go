package kubernetes_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	kube "github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/actions/kubernetes/kubetest"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

// restorePlaybook scales out while the alert fires and, once it resolves,
// scales back to the count the firing step found.
const restorePlaybook = `
name: surge
description: scale out under load, back when it clears
match: event.name == "HighLoad" && event.status == "firing"
steps:
  - action: kubernetes.scale
    with: { namespace: "{{ event.labels.namespace }}", name: web, replicas: 5, max: 10 }
on_resolved:
  - action: kubernetes.scale
    with: { namespace: "{{ event.labels.namespace }}", name: web, restore: true, max: 10 }
`

// restoreRig is a real engine on a real bbolt file, acting on the shared
// kube-apiserver; reopen simulates a restart.
type restoreRig struct {
	t    *testing.T
	path string
	db   *store.DB
	eng  *engine.Engine
	set  *playbooks.Set
	reg  *actions.Registry
}

// revertPlaybook says the same with revert_on_resolve: the restore is
// made from the firing step, without replicas and delta.
const revertPlaybook = `
name: surge
description: scale out under load, back when it clears
match: event.name == "HighLoad" && event.status == "firing"
revert_on_resolve: true
steps:
  - name: scale out
    action: kubernetes.scale
    with: { namespace: "{{ event.labels.namespace }}", name: web, delta: 3, max: 10 }
`

func newRestoreRig(t *testing.T) *restoreRig { return newRigWith(t, restorePlaybook) }

func newRigWith(t *testing.T, text string) *restoreRig {
	reg := actions.NewRegistry()
	if err := reg.Register(newCluster(t, kubetest.AdminUser).Scale()); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Parse(reg, "surge.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	r := &restoreRig{t: t, path: filepath.Join(t.TempDir(), "fb.db"), set: set, reg: reg}
	r.reopen()
	t.Cleanup(func() { _ = r.db.Close() })
	return r
}

func (r *restoreRig) reopen() {
	r.t.Helper()
	if r.db != nil {
		if err := r.db.Close(); err != nil {
			r.t.Fatal(err)
		}
	}
	db, err := store.Open(r.path, store.Options{NoSync: true, Now: func() time.Time { return fixedNow }})
	if err != nil {
		r.t.Fatal(err)
	}
	r.db = db
	r.eng = engine.New(engine.Config{Store: db, Registry: r.reg, Now: func() time.Time { return fixedNow }})
	r.eng.SetPlaybooks(r.set)
}

func (r *restoreRig) process(id, ns, status string) {
	r.t.Helper()
	ctx := context.Background()
	ev := event.Event{ID: id, Source: "am", Name: "HighLoad", Status: status, Fingerprint: "fp-" + ns,
		Labels: map[string]string{"namespace": ns}, StartsAt: fixedNow, ReceivedAt: fixedNow}
	seqs, err := r.db.AppendEvents(ctx, []event.Event{ev})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.eng.Process(ctx, seqs[0]); err != nil {
		r.t.Fatal(err)
	}
}

// last returns the event's last audit record of kind.
func (r *restoreRig) last(id string, kind audit.Kind) audit.Record {
	r.t.Helper()
	recs, err := r.db.AuditForEvent(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind == kind {
			return recs[i]
		}
	}
	var ks []string
	for _, rec := range recs {
		ks = append(ks, string(rec.Kind)+"/"+rec.Outcome)
	}
	r.t.Fatalf("event %s has no %s record: %q", id, kind, ks)
	return audit.Record{}
}

// TestScaleRestoresOnResolve: firing scales 2→5; the resolve, processed
// by a restarted engine, scales back to 2 and audits it.
func TestScaleRestoresOnResolve(t *testing.T) {
	c := admin(t)
	ns := namespace(t, c)
	create(t, c, kube.KindDeployment, ns, "web", 2, settled)
	r := newRestoreRig(t)

	r.process("fire", ns, event.StatusFiring)
	if got := get(t, c, kube.KindDeployment, ns, "web").replicas; got != 5 {
		t.Fatalf("after firing: %d replicas, want 5", got)
	}
	r.reopen() // the recorded count survives a restart
	r.process("clear", ns, event.StatusResolved)
	if got := get(t, c, kube.KindDeployment, ns, "web").replicas; got != 2 {
		t.Fatalf("after resolve: %d replicas, want the recorded 2", got)
	}
	rec := r.last("clear", audit.KindStepSucceeded)
	if want := "restored Deployment/" + ns + "/web from 5 to the recorded 2 replicas"; rec.Message != want {
		t.Errorf("restore record message = %q, want %q", rec.Message, want)
	}
	if rec.Data["phase"] != engine.PhaseOnResolved || rec.Data["restore"] == nil {
		t.Errorf("restore record data = %v, want phase on_resolved and the restored state", rec.Data)
	}

	// The record was used up: the alert firing and resolving again, with
	// the workload already at 5, records nothing and restores nothing.
	if _, err := run(t, newCluster(t, kubetest.AdminUser).Scale(), map[string]any{"namespace": ns, "name": "web", "replicas": 5, "max": 10}, false); err != nil {
		t.Fatal(err)
	}
	r.process("fire2", ns, event.StatusFiring)
	r.process("clear2", ns, event.StatusResolved)
	if got := get(t, c, kube.KindDeployment, ns, "web").replicas; got != 5 {
		t.Errorf("second resolve changed replicas to %d; nothing was recorded, want 5", got)
	}
	skip := r.last("clear2", audit.KindStepSkipped)
	if skip.Outcome != "nothing_to_restore" || !strings.Contains(skip.Message, "nothing to restore") {
		t.Errorf("skip record = %s %q, want nothing_to_restore", skip.Outcome, skip.Message)
	}
}

// TestScaleRestoreWithoutRecordIsSkipped: when the firing scale failed
// (the workload did not exist yet), the resolve has nothing to restore: an audited
// skip, and the workload is left alone.
func TestScaleRestoreWithoutRecordIsSkipped(t *testing.T) {
	c := admin(t)
	ns := namespace(t, c)
	r := newRestoreRig(t)
	// The workload does not exist yet: the firing scale fails.
	r.process("fire", ns, event.StatusFiring)
	if rec := r.last("fire", audit.KindStepFailed); !strings.Contains(rec.Message, "not found") {
		t.Fatalf("firing step = %q, want a not-found failure", rec.Message)
	}
	create(t, c, kube.KindDeployment, ns, "web", 3, settled)
	r.process("clear", ns, event.StatusResolved)
	if got := get(t, c, kube.KindDeployment, ns, "web").replicas; got != 3 {
		t.Errorf("resolve changed replicas to %d, want 3 untouched", got)
	}
	skip := r.last("clear", audit.KindStepSkipped)
	if skip.Outcome != "nothing_to_restore" {
		t.Errorf("skip outcome = %q, want nothing_to_restore", skip.Outcome)
	}
}

// TestScaleRestoreRecordGoesWithRetention: retention forgetting the
// firing event drops the recorded count with the on_resolved mark.
func TestScaleRestoreRecordGoesWithRetention(t *testing.T) {
	c := admin(t)
	ns := namespace(t, c)
	create(t, c, kube.KindDeployment, ns, "web", 2, settled)
	r := newRestoreRig(t)
	r.process("fire", ns, event.StatusFiring)
	var n int
	err := r.db.Update(context.Background(), func(tx state.Tx) error {
		if err := engine.ForgetEvent(tx, "fire"); err != nil {
			return err
		}
		var err error
		n, err = engine.SweepForgotten(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("sweep removed %d records, want 2 (the on_resolved mark and the recorded count)", n)
	}
}

// TestScaleRevertOnResolve: revert_on_resolve alone undoes the firing
// scale (2→5 by delta 3, back to 2) with a restore step named after it.
func TestScaleRevertOnResolve(t *testing.T) {
	c := admin(t)
	ns := namespace(t, c)
	create(t, c, kube.KindDeployment, ns, "web", 2, settled)
	r := newRigWith(t, revertPlaybook)
	r.process("fire", ns, event.StatusFiring)
	if got := get(t, c, kube.KindDeployment, ns, "web").replicas; got != 5 {
		t.Fatalf("after firing: %d replicas, want 5", got)
	}
	r.process("clear", ns, event.StatusResolved)
	if got := get(t, c, kube.KindDeployment, ns, "web").replicas; got != 2 {
		t.Fatalf("after resolve: %d replicas, want the recorded 2", got)
	}
	if rec := r.last("clear", audit.KindStepSucceeded); !strings.Contains(rec.Message, "restored Deployment/"+ns+"/web from 5 to the recorded 2") {
		t.Errorf("restore record message = %q", rec.Message)
	}
	pb, _ := r.set.Get("surge")
	if len(pb.OnResolved) != 1 || pb.OnResolved[0].Name != "revert scale out" {
		t.Errorf("on_resolved = %+v, want one step named \"revert scale out\"", pb.OnResolved)
	}
}
