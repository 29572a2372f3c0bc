package clustertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
)

const operatorToken = "cluster-test-operator-token-0123456789"

// api sends method path with body to replica r with the operator token
// and decodes the JSON answer into out (when not nil).
func api(t *testing.T, r *replica, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, r.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestClusterKillSwitchAcrossReplicas: the kill switch set through one
// replica process's API holds on every replica. Paused on fb-0, fb-2
// reports it; an alert that reaches fb-1 has its step held
// (guards.on_pause: hold), not run; resumed on fb-2, the step held on
// fb-1 runs at once (fb-1 watches the kill switch), and once. About 10 s.
func TestClusterKillSwitchAcrossReplicas(t *testing.T) {
	start := time.Now()
	r := &approvalRig{t: t, etcd: startEtcd(t), cap: &capture{groups: map[string]int{}}}
	capSrv := httptest.NewServer(r.cap)
	t.Cleanup(capSrv.Close)
	pbDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pbDir, "pb.yaml"), []byte(fmt.Sprintf(auditPlaybook, capSrv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`guards:
  on_pause: hold
api:
  tokens:
    - { name: viewer, role: viewer, token: %s }
    - { name: oncall, role: operator, token: %s }
`, apprViewToken, operatorToken)
	body := clusterConfig(r.etcd.clients, "/fb-kill", pbDir, extra)
	r.reps = make([]*replica, 3)
	for i := range r.reps {
		r.reps[i] = startReplica(t, fmt.Sprintf("fb-%d", i), body)
	}
	if code := api(t, r.reps[0], http.MethodPost, "/api/v1/pause", `{"reason":"incident 42"}`, nil); code != http.StatusOK {
		t.Fatalf("POST /api/v1/pause on fb-0 = %d", code)
	}
	var st struct {
		Paused bool   `json:"paused"`
		By     string `json:"by"`
	}
	if code := api(t, r.reps[2], http.MethodGet, "/api/v1/pause", "", &st); code != http.StatusOK || !st.Paused {
		t.Fatalf("GET /api/v1/pause on fb-2 = %d %+v, want paused", code, st)
	}

	r.alert(1, "Storm", "held")
	waitFor(t, 15*time.Second, "the step to be held on fb-1", func() bool {
		return len(r.records(2, audit.KindStepHeld, "")) == 1
	})
	if n := r.cap.total.Load(); n != 0 {
		t.Fatalf("the step ran %d times while paused", n)
	}
	if recs := r.records(0, audit.KindStepSucceeded, ""); len(recs) != 0 {
		t.Fatalf("%d steps succeeded while paused", len(recs))
	}

	resumed := time.Now()
	if code := api(t, r.reps[2], http.MethodPost, "/api/v1/resume", `{}`, nil); code != http.StatusOK {
		t.Fatalf("POST /api/v1/resume on fb-2 = %d", code)
	}
	// fb-1 learns of the resume by its watch of the kill switch, at
	// once; 3 s is a bound for a loaded machine, not a speed claim (a
	// replica that only polled would miss a pause shorter than its poll
	// and release the step on its 5 s engine tick).
	waitFor(t, 3*time.Second, "the step held on fb-1 to run after the resume on fb-2", func() bool { return r.cap.total.Load() >= 1 })
	t.Logf("the held step ran %s after the resume on another replica", time.Since(resumed).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "its step.succeeded record", func() bool {
		return len(r.records(0, audit.KindStepSucceeded, "")) >= 1
	})
	if recs := r.records(0, audit.KindStepSucceeded, ""); len(recs) != 1 {
		t.Errorf("%d step.succeeded records, want 1", len(recs))
	}
	if recs := r.records(1, audit.KindInterrupted, ""); len(recs) != 0 {
		t.Errorf("%d step.interrupted records: a replica declared interrupted the step another was running", len(recs))
	}
	if n := r.groupRuns("held"); n != 1 {
		t.Errorf("the held step reached the receiver %d times, want 1", n)
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}
