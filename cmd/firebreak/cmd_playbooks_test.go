package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/playbooks"
)

// TestExamplePlaybookTests runs the offline tests shipped for the example
// playbooks, as CI does with `firebreak test testdata/playbooks/tests/*.test.yaml`.
func TestExamplePlaybookTests(t *testing.T) {
	files, err := filepath.Glob("../../testdata/playbooks/tests/*.test.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"test", "-v"}, files...), &stdout, &stderr); code != 0 {
		t.Fatalf("firebreak test = %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "ok: ") {
		t.Errorf("no summary:\n%s", stdout.String())
	}
}

// TestEveryExampleIsTested checks that each example playbook is named in at
// least one passing test expectation.
func TestEveryExampleIsTested(t *testing.T) {
	examples, _ := filepath.Glob("../../playbooks/examples/*.yaml")
	tests, _ := filepath.Glob("../../testdata/playbooks/tests/*.test.yaml")
	var all strings.Builder
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	for _, f := range examples {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "name: "); ok {
				if !strings.Contains(all.String(), "playbook: "+strings.TrimSpace(name)) {
					t.Errorf("example playbook %q (%s) has no offline test in testdata/playbooks/tests", name, filepath.Base(f))
				}
			}
		}
	}
}

func TestTestCommandFailures(t *testing.T) {
	dir := t.TempDir()
	pb := filepath.Join(dir, "pb.yaml")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("pb.yaml", "name: n\nmatch: event.name == \"A\"\nsteps: [{action: webhook.notify, with: {url: \"http://h/{{ event.labels.x }}\"}}]\n")
	failing := write("f.test.yaml", `playbooks: [pb.yaml]
tests:
  - name: wrong url
    input: {events: [{source: s, name: A, labels: {x: "1"}}]}
    expect:
      - matched: [{playbook: n, steps: [{action: webhook.notify, params: {url: "http://h/2"}}]}]
`)
	badPlaybooks := write("b.test.yaml", "playbooks: [nope.yaml]\ntests: [{name: x, input: {events: []}}]\n")
	write("broken.yaml", "name: n\nmatch: 'event.nam == 1'\nsteps: [{action: webhook.notify}]\n")
	invalid := write("i.test.yaml", "playbooks: [broken.yaml]\ntests: [{name: x, input: {events: []}}]\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"diff", []string{"test", failing}, 1, "FAIL " + failing + ": wrong url\n  event 0 (A firing, id test-0): (- expected, + actual)\n", ""},
		{"diff lines", []string{"test", failing}, 1, "-           url: http://h/2\n    +           url: http://h/1\n", ""},
		{"summary", []string{"test", failing}, 1, "FAIL: 1 of 1 test(s) failed\n", ""},
		{"missing playbooks", []string{"test", badPlaybooks}, 1, "", "nope.yaml: no such file or directory"},
		{"invalid playbooks", []string{"test", invalid}, 1, "", "the playbooks do not load:\n" + filepath.Join(dir, "broken.yaml") + ":2:15: playbook \"n\": match: invalid expression: type event.Event has no field nam"},
		{"no args", []string{"test"}, 2, "", "usage: firebreak test"},
		{"validate ok", []string{"validate", pb}, 0, "ok: 1 playbook(s), 1 step(s) in " + pb + "\n", ""},
		{"validate bad", []string{"validate", filepath.Join(dir, "broken.yaml")}, 1, "", "steps[0].with.url: is required (or url_env, or url_file)\n2 problem(s)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.err) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q and stderr containing %q", code, tt.code, stdout.String(), stderr.String(), tt.out, tt.err)
			}
		})
	}
}

func TestSchema(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"schema"}, &stdout, &stderr); code != 0 {
		t.Fatalf("schema = %d: %s", code, stderr.String())
	}
	var s struct {
		Schema     string                     `json:"$schema"`
		Required   []string                   `json:"required"`
		Properties map[string]map[string]any  `json:"properties"`
		Defs       map[string]json.RawMessage `json:"definitions"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range s.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var want []string
	for _, k := range playbooks.PlaybookKeys {
		want = append(want, k.Name)
	}
	sort.Strings(want)
	if !slices.Equal(keys, want) || !slices.Equal(s.Required, []string{"name", "match", "steps"}) {
		t.Errorf("properties %v required %v", keys, s.Required)
	}
	var step struct {
		Properties map[string]struct {
			Enum []string `json:"enum"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(s.Defs["step"], &step); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(step.Properties["action"].Enum, "webhook.notify") {
		t.Errorf("action enum %v lacks webhook.notify", step.Properties["action"].Enum)
	}
	var with struct {
		Required   []string       `json:"required"`
		Properties map[string]any `json:"properties"`
		AllOf      []struct {
			OneOf []struct {
				Required []string `json:"required"`
			} `json:"oneOf"`
		} `json:"allOf"`
	}
	if err := json.Unmarshal(s.Defs["with.webhook.notify"], &with); err != nil {
		t.Fatal(err)
	}
	var oneOf []string
	for _, g := range with.AllOf {
		for _, alt := range g.OneOf {
			oneOf = append(oneOf, alt.Required...)
		}
	}
	if len(with.Required) != 0 || !slices.Equal(oneOf, []string{"url", "url_env", "url_file"}) || with.Properties["body"] == nil {
		t.Errorf("with.webhook.notify = %+v", with)
	}
}

func TestTestCommandDirectory(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"test", "../../testdata/playbooks/tests"}, &stdout, &stderr); code != 0 {
		t.Fatalf("firebreak test DIR = %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if code := run([]string{"test", t.TempDir()}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no *.test.yaml files in") {
		t.Errorf("empty directory: %d %s", code, stderr.String())
	}
}
