package main

import (
	"flag"
	"log/slog"
	"os"
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
