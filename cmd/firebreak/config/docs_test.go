package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/config"
)

// sectionDocs names the docs that document each top-level key's section,
// beside docs/config.md, which documents every key.
var sectionDocs = map[string][]string{
	"sources":   {"sources.md"},
	"guards":    {"safety.md"},
	"approvals": {"approvals.md"},
	"actions":   {"actions.md", "tls.md"},
	"audit":     {"audit.md"},
	"api":       {"api.md", "approvals.md", "dashboard.md"},
	"http":      {},
	"tls":       {"tls.md"},
	"dashboard": {"dashboard.md"},
	"store":     {"operations.md"},
	"cluster":   {"operations.md"},
}

// yamlKeys walks t's yaml tags recursively and returns every key path, map
// keys written as <name>.
func yamlKeys(t reflect.Type, prefix string, seen map[reflect.Type]bool, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() == reflect.Map {
		yamlKeys(t.Elem(), prefix+"<name>.", seen, out)
		return
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("yaml")
		if !ok || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			yamlKeys(f.Type, prefix, seen, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		*out = append(*out, prefix+name)
		yamlKeys(f.Type, prefix+name+".", seen, out)
	}
}

// documented reports whether doc documents the key path: as a code span
// of its own (`leaf`, `leaf: …`, or its dotted path), or as a YAML key in
// a fenced yaml block. A secret's three spellings (KEY, KEY_env, KEY_file)
// count as one: docs/config.md states the rule once, so documenting one of
// them documents all three.
func documented(doc, path string) bool {
	for _, p := range spellings(path) {
		if documentedAs(doc, p) {
			return true
		}
	}
	return false
}

func spellings(path string) []string {
	base := strings.TrimSuffix(strings.TrimSuffix(path, "_env"), "_file")
	return []string{base, base + "_env", base + "_file"}
}

func documentedAs(doc, path string) bool {
	leaf := path[strings.LastIndex(path, ".")+1:]
	dotted := strings.ReplaceAll(path, "<name>.", "")
	if strings.Contains(doc, "`"+leaf+"`") || strings.Contains(doc, "`"+leaf+": ") || strings.Contains(doc, "`"+dotted+"`") {
		return true
	}
	key := regexp.MustCompile(`(?m)(^[ \t-]*|[{,][ \t]*)` + regexp.QuoteMeta(leaf) + `:`)
	for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		if key.MatchString(b[1]) {
			return true
		}
	}
	return false
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsConfigKeys keeps docs/ true to the config's shape: every top-level
// key is a row of docs/config.md's key table, and every nested key is
// documented in docs/config.md or its section's doc.
func TestDocsConfigKeys(t *testing.T) {
	var keys []string
	yamlKeys(reflect.TypeOf(config.Config{}), "", map[reflect.Type]bool{}, &keys)
	if len(keys) < 50 {
		t.Fatalf("walked %d keys of config.Config; the walk is broken", len(keys))
	}
	cfgDoc := readDoc(t, "config.md")
	var missing []string
	for _, k := range keys {
		top, _, nested := strings.Cut(k, ".")
		if !nested {
			if !strings.Contains(cfgDoc, "| `"+top+"` |") {
				missing = append(missing, k+" (no row in config.md's key table)")
			}
			continue
		}
		files, ok := sectionDocs[top]
		if !ok {
			t.Fatalf("top-level key %q has no entry in sectionDocs", top)
		}
		doc := cfgDoc
		for _, f := range files {
			doc += readDoc(t, f)
		}
		if !documented(doc, k) {
			missing = append(missing, k+" (in config.md, "+strings.Join(files, ", ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d config keys are not documented:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
}
