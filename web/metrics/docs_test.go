package metrics_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firebreak/firebreak/web/metrics"
)

// registered lists the metric families a fresh registry describes, without
// the standard go_, process_ and promhttp_ ones. Describe, unlike Gather,
// also names the vectors that have no series yet.
func registered(t *testing.T) []string {
	t.Helper()
	m := metrics.New(metrics.Config{InboxDepth: func() int { return 0 }})
	ch := make(chan *prometheus.Desc)
	go func() {
		m.Registry().Describe(ch)
		close(ch)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	seen := map[string]bool{}
	var out []string
	for d := range ch {
		sm := fq.FindStringSubmatch(d.String())
		if sm == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		name := sm[1]
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// TestDocsMetricsTable keeps docs/metrics.md's table equal to what the
// registry registers: every family has a row, and every row is a family.
func TestDocsMetricsTable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	row := regexp.MustCompile("(?m)^\\| `([a-z_:]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(string(raw), -1) {
		documented = append(documented, m[1])
	}
	got := registered(t)
	if len(got) < 15 {
		t.Fatalf("the registry describes only %v; the walk is broken", got)
	}
	for _, name := range got {
		if !slices.Contains(documented, name) {
			t.Errorf("metric %s is registered but has no row in docs/metrics.md", name)
		}
	}
	for _, name := range documented {
		if !slices.Contains(got, name) {
			t.Errorf("docs/metrics.md documents %s, which the registry does not register", name)
		}
	}
}
