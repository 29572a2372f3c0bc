package app_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
)

// TestReadmeConfigExamplesDecode keeps the README's configuration examples
// true to the code: every YAML block in it that is a Firebreak config
// section decodes strictly (unknown keys are errors).
func TestReadmeConfigExamplesDecode(t *testing.T) {
	raw, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(raw), -1)
	sections := regexp.MustCompile(`^(listen|sources|actions|guards|approvals|audit|api):`)
	checked := 0
	for _, b := range blocks {
		text := b[1]
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
			t.Errorf("README config block starting %q does not decode: %v", first, err)
		}
	}
	if checked < 7 {
		t.Fatalf("found %d config blocks in the README, expected the listen/sources/actions/guards/approvals/audit/api ones", checked)
	}
}
