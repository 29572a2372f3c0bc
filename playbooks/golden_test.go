package playbooks_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/playbooks"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestBadPlaybooks loads every testdata/playbooks/bad/*.yaml and compares
// the complete error text with the .err file next to it. Run with -update to
// regenerate the .err files after a deliberate change, and review the diff.
func TestBadPlaybooks(t *testing.T) {
	files, err := filepath.Glob("../testdata/playbooks/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad playbooks: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = playbooks.Parse(testRegistry(t), name, data)
			if err == nil {
				t.Fatal("loaded without errors")
			}
			if !errors.Is(err, playbooks.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./playbooks -run TestBadPlaybooks -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}
