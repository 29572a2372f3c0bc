package metrics

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const rulesDir = "../../testdata/alerts"

// TestAlertingRules checks the example rules: they parse, name only
// metrics this package exports, and — when promtool is installed
// (scripts/setup.d/30-promtool.sh) — pass `promtool check rules` and the
// rule unit tests.
func TestAlertingRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(rulesDir, "firebreak-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytesReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("parse rules: %v", err)
	}
	exported := exportedNames(t)
	alerts := map[string]bool{}
	metricRef := regexp.MustCompile(`\bfirebreak_[a-z_]+`)
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a severity label, a summary and a description", r.Alert)
			}
			refs := metricRef.FindAllString(r.Expr, -1)
			if len(refs) == 0 {
				t.Errorf("%s: expr names no firebreak metric", r.Alert)
			}
			for _, name := range refs {
				if !exported[name] {
					t.Errorf("%s: expr uses %s, which Firebreak does not export", r.Alert, name)
				}
			}
		}
	}
	for _, want := range []string{"FirebreakInboxBacklogGrowing", "FirebreakBreakerOpen", "FirebreakDeadLetters"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (scripts/setup.d/30-promtool.sh installs it): rules parsed but not checked by promtool")
	}
	for _, args := range [][]string{{"check", "rules", "firebreak-rules.yml"}, {"test", "rules", "firebreak-rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// exportedNames returns the names of every metric family the package
// exports once each has a sample.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := New(Config{InboxDepth: func() int { return 0 }})
	m.SetBreakers(func(context.Context) ([]Breaker, error) { return []Breaker{{"p", "open"}}, nil })
	m.SetPendingApprovals(func(context.Context) (int, error) { return 0, nil })
	m.SetDLQEntries(func(context.Context) (int, error) { return 0, nil })
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range fams {
		out[f.GetName()] = true
	}
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
