package playbooks_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/playbooks"
)

// flatKeys lists keys as docs/playbooks.md's tables name them: a mapping
// with sub-keys by its sub-keys (dedupe.key), every other key by its name.
func flatKeys(keys []playbooks.Key, prefix string) []string {
	var out []string
	for _, k := range keys {
		if len(k.Sub) > 0 {
			out = append(out, flatKeys(k.Sub, prefix+k.Name+".")...)
			continue
		}
		out = append(out, prefix+k.Name)
	}
	return out
}

// tableKeys returns the first-column keys of the Markdown table whose
// header row starts with "| header |".
func tableKeys(t *testing.T, doc, header string) []string {
	t.Helper()
	i := strings.Index(doc, "\n| "+header+" |")
	if i < 0 {
		t.Fatalf("docs/playbooks.md has no table headed %q", header)
	}
	row := regexp.MustCompile("^\\| `([^`]+)` \\|")
	var out []string
	for _, line := range strings.Split(doc[i+1:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("docs/playbooks.md: row %q of the %q table names no key", line, header)
		}
		out = append(out, m[1])
	}
	return out
}

// TestDocsPlaybookKeys keeps docs/playbooks.md's key tables equal to the
// tables the loader and `firebreak schema` use (PlaybookKeys, StepKeys):
// every key has a row, and every row is a key.
func TestDocsPlaybookKeys(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "playbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, tc := range []struct {
		header string
		keys   []playbooks.Key
	}{
		{"key", playbooks.PlaybookKeys},
		{"step key", playbooks.StepKeys},
	} {
		want := flatKeys(tc.keys, "")
		got := tableKeys(t, doc, tc.header)
		for _, k := range want {
			if !slices.Contains(got, k) {
				t.Errorf("docs/playbooks.md's %q table has no row for %q", tc.header, k)
			}
		}
		for _, k := range got {
			if !slices.Contains(want, k) {
				t.Errorf("docs/playbooks.md's %q table documents %q, which is not a key of the format", tc.header, k)
			}
		}
	}
}

// TestDocsHelpers keeps docs/playbooks.md's helper table equal to Helpers,
// the list `firebreak schema` and the docs are made from: every helper has
// a row, and every row is a helper.
func TestDocsHelpers(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "playbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	name := func(sig string) string { n, _, _ := strings.Cut(sig, "("); return n }
	var want, got []string
	for _, h := range playbooks.Helpers() {
		if h.Doc == "" {
			t.Errorf("helper %s has no doc", h.Signature)
		}
		want = append(want, name(h.Signature))
	}
	for _, row := range tableKeys(t, string(raw), "function") {
		got = append(got, name(row))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("docs/playbooks.md's helper table lists %v, Helpers lists %v", got, want)
	}
}
