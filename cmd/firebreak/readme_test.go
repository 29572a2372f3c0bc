package main

import (
	"flag"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the README's generated sections")

// TestReadmeActionReference keeps the README's action reference identical
// to the catalogue `firebreak actions` prints. Regenerate with
// go test ./cmd/firebreak -run ReadmeActionReference -update-readme.
func TestReadmeActionReference(t *testing.T) {
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := ActionsMarkdown(reg.Specs())
	const path = "../../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	const begin, end = "<!-- actions:begin -->\n", "<!-- actions:end -->"
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README has no %q … %q section", begin, end)
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
	t.Errorf("the README's action reference differs from `firebreak actions`; rerun with -update-readme.\n--- README\n%s\n--- catalogue\n%s", got, want)
}
