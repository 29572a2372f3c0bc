package main

import (
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the generated sections of docs/ (the action reference)")

// TestReadmeActionReference keeps docs/actions.md's action reference identical
// to the catalogue `firebreak actions` prints. Regenerate with
// go test ./cmd/firebreak -run ReadmeActionReference -update-readme.
func TestReadmeActionReference(t *testing.T) {
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := ActionsMarkdown(reg.Specs())
	const path = "../../docs/actions.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	const begin, end = "<!-- actions:begin -->\n", "<!-- actions:end -->"
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q … %q section", path, begin, end)
	}
	got := readme[i+len(begin) : j]
	if got == want {
		return
	}
	if *updateReadme {
		if err := os.WriteFile(path, []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's action reference differs from `firebreak actions`; rerun with -update-readme.\n--- %s\n%s\n--- catalogue\n%s", path, path, got, want)
}

// TestReadmeShapeAndLinks keeps the README a front page (at most 250 lines,
// linking every file of docs/) and every relative link of the README and
// docs/*.md pointing at a file that exists.
func TestReadmeShapeAndLinks(t *testing.T) {
	const root = "../.."
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	if n := strings.Count(readme, "\n"); n > 250 {
		t.Errorf("README.md has %d lines; the reference belongs in docs/ (at most 250)", n)
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	for _, d := range docs {
		if link := "](docs/" + filepath.Base(d) + ")"; !strings.Contains(readme, link) {
			t.Errorf("README.md does not link %s", "docs/"+filepath.Base(d))
		}
	}
	fence := regexp.MustCompile("(?s)```.*?```")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(fence.ReplaceAllString(string(b), ""), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), target)); err != nil {
				t.Errorf("%s links %s, which does not exist", f, m[1])
			}
		}
	}
}
