package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/firebreak/firebreak/engine/audit"
)

func TestMetricsCountWhatTheyAreTold(t *testing.T) {
	depth := 7
	m := New(Config{InboxDepth: func() int { return depth }})
	m.InitSources("alertmanager", "falco")
	m.Received("alertmanager", 5, 2, 1, 3*time.Millisecond)
	m.Received("falco", 1, 0, 0, time.Millisecond)
	m.Rejected("falco", "unauthorized")
	m.PlaybookMatched("restart")
	m.PlaybookMatched("restart")
	m.StepFinished("kubernetes.restart", "ok", 2*time.Second)
	m.StepFinished("kubernetes.restart", "when_false", 0)
	m.GuardRefused("budget_exhausted", "restart")
	m.EventProcessed("alertmanager", 1, 10*time.Millisecond)
	m.AuditWritten(audit.Record{Kind: audit.KindReload, Outcome: "ok"})
	m.AuditWritten(audit.Record{Kind: audit.KindReload, Outcome: "rejected"})
	m.AuditWritten(audit.Record{Kind: audit.KindApproval, Outcome: "requested"})
	m.AuditWritten(audit.Record{Kind: audit.KindApproval, Outcome: "approved"})
	m.ApprovalDecided("approved", 90*time.Second)
	m.Compacted(10, 3)
	m.SetBreakers(func(context.Context) ([]Breaker, error) {
		return []Breaker{{"restart", "open"}, {"restart", "open"}, {"restart", "closed"}, {"block", "half_open"}}, nil
	})
	m.SetPendingApprovals(func(context.Context) (int, error) { return 4, nil })

	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"accepted", value(m.received.WithLabelValues("alertmanager", "accepted")), 4},
		{"stale", value(m.received.WithLabelValues("alertmanager", "stale")), 1},
		{"duplicate", value(m.received.WithLabelValues("alertmanager", "duplicate")), 2},
		{"falco accepted", value(m.received.WithLabelValues("falco", "accepted")), 1},
		{"falco duplicate initialised", value(m.received.WithLabelValues("falco", "duplicate")), 0},
		{"rejected", value(m.rejected.WithLabelValues("falco", "unauthorized")), 1},
		{"matches", value(m.matches.WithLabelValues("restart")), 2},
		{"step ok", value(m.stepRuns.WithLabelValues("kubernetes.restart", "ok")), 1},
		{"step skipped", value(m.stepRuns.WithLabelValues("kubernetes.restart", "when_false")), 1},
		{"refusals", value(m.refusals.WithLabelValues("budget_exhausted", "restart")), 1},
		{"processed", value(m.processed.WithLabelValues("alertmanager")), 1},
		{"audit reload records", value(m.auditRecords.WithLabelValues(string(audit.KindReload))), 2},
		{"reload ok", value(m.reloads.WithLabelValues("ok")), 1},
		{"reload failed", value(m.reloads.WithLabelValues("failed")), 1},
		{"approved", value(m.approvals.WithLabelValues("approved")), 1},
		{"compacted audit", value(m.compacted.WithLabelValues("audit")), 10},
		{"compacted inbox", value(m.compacted.WithLabelValues("inbox")), 3},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// Only executed steps feed the duration histogram.
	if n := count(m.stepDuration); n != 1 {
		t.Errorf("step duration series = %d, want 1", n)
	}

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	body := get(t, srv.URL)
	for _, want := range []string{
		"firebreak_inbox_pending_events 7\n",
		`firebreak_breakers{playbook="restart",state="open"} 2` + "\n",
		`firebreak_breakers{playbook="restart",state="closed"} 1` + "\n",
		`firebreak_breakers{playbook="restart",state="half_open"} 0` + "\n",
		`firebreak_breakers{playbook="block",state="half_open"} 1` + "\n",
		"firebreak_approvals_pending 4\n",
		`firebreak_approval_decision_seconds_count{decision="approved"} 1` + "\n",
		`firebreak_ingest_duration_seconds_count{source="alertmanager"} 1` + "\n",
		`firebreak_metric_source_up{source="breakers"} 1` + "\n",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	depth = 0
	m.SetBreakers(func(context.Context) ([]Breaker, error) { return nil, errors.New("store closed") })
	body = get(t, srv.URL)
	for _, want := range []string{"firebreak_inbox_pending_events 0\n", `firebreak_metric_source_up{source="breakers"} 0` + "\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("after changes /metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "firebreak_breakers{") {
		t.Error("breaker series reported although reading them failed")
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := New(Config{}), New(Config{})
	a.PlaybookMatched("x")
	if got := value(b.matches.WithLabelValues("x")); got != 0 {
		t.Errorf("a second Metrics sees %v matches of the first", got)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// value reads a counter's or gauge's current value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// count returns how many series c has.
func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	n := 0
	for range ch {
		n++
	}
	return n
}
