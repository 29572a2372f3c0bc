package dashboard_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestReadmeShowsScreenshots keeps the README and docs/dashboard.md showing
// the dashboard's screenshots (overview, timeline, approvals, breakers),
// each a PNG that exists under docs/img.
func TestReadmeShowsScreenshots(t *testing.T) {
	img := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+\.png)\)`)
	for doc, dir := range map[string]string{"../../README.md": "../..", "../../docs/dashboard.md": "../../docs"} {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		shown := map[string]bool{}
		for _, m := range img.FindAllStringSubmatch(string(raw), -1) {
			shown[filepath.Base(m[1])] = true
			b, err := os.ReadFile(filepath.Join(dir, m[1]))
			if err != nil {
				t.Errorf("%s shows %s: %v", doc, m[1], err)
				continue
			}
			if len(b) < 8 || string(b[1:4]) != "PNG" {
				t.Errorf("%s shows %s, which is not a PNG", doc, m[1])
			}
		}
		for _, want := range []string{"overview.png", "timeline.png", "approvals.png", "breakers.png"} {
			if !shown[want] {
				t.Errorf("%s does not show the %s screenshot", doc, want)
			}
		}
	}
}
