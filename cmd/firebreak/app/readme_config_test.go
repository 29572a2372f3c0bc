package app_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
)

// TestReadmeConfigExamplesDecode keeps the configuration examples of the
// README and docs/*.md true to the code: every YAML block in them that is
// a Firebreak config section decodes strictly (unknown keys are errors).
func TestReadmeConfigExamplesDecode(t *testing.T) {
	files, err := filepath.Glob("../../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../../README.md"}, files...)
	type block struct{ file, text string }
	var blocks []block
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
			blocks = append(blocks, block{filepath.Base(f), m[1]})
		}
	}
	sections := regexp.MustCompile(`^(listen|sources|actions|guards|approvals|audit|api|http):`)
	checked := 0
	for _, b := range blocks {
		text := b.text
		if !sections.MatchString(text) {
			continue // a playbook, an Alertmanager config, a test file …
		}
		checked++
		path := filepath.Join(t.TempDir(), "firebreak.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := app.LoadConfig(path); err != nil {
			first, _, _ := strings.Cut(text, "\n")
			t.Errorf("%s: config block starting %q does not decode: %v", b.file, first, err)
		}
	}
	if checked < 7 {
		t.Fatalf("found %d config blocks in the README and docs/, expected the listen/sources/actions/guards/approvals/audit/api ones", checked)
	}
}
