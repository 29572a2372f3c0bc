package yamlpos_test

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/firebreak/firebreak/playbooks/yamlpos"
)

var errTest = errors.New("invalid test input")

// problem is a minimal Problem: what a loader's own type provides.
type problem struct {
	file      string
	line, col int
	msg       string
}

func (p problem) Error() string             { return yamlpos.Format(p.file, p.line, p.col, "", "", p.msg) }
func (p problem) Place() (string, int, int) { return p.file, p.line, p.col }
func (problem) Invalid() error              { return errTest }

func TestSyntaxErrorPlacesTheError(t *testing.T) {
	tests := []struct {
		name, yaml string
		line, col  int
		msg        string
	}{
		{"named line", "a: 1\nb: c: d\n", 2, 1, "invalid YAML: mapping values are not allowed in this context"},
		// yaml.v3 names line 2 for the tab on line 3; the tab is found.
		{"tab in indentation", "a:\n  b: 1\n\t c: 2\n", 3, 1, "invalid YAML: found character that cannot start any token"},
		{"tab after spaces, CRLF", "a:\r\n  b: 1\r\n  \tc: 2\r\n", 3, 3, "invalid YAML: found character that cannot start any token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tt.yaml), &n)
			if err == nil {
				t.Fatal("the YAML parsed; the test needs a syntax error")
			}
			line, col, msg := yamlpos.SyntaxError(err, []byte(tt.yaml))
			if line != tt.line || col != tt.col || !strings.HasPrefix(msg, "invalid YAML: ") {
				t.Fatalf("SyntaxError(%q) = %d:%d %q, want %d:%d (yaml.v3 said %q)", tt.yaml, line, col, msg, tt.line, tt.col, err)
			}
			if strings.Contains(tt.name, "tab") && !strings.Contains(msg, "tab") {
				t.Fatalf("message %q does not say why", msg)
			}
			if !strings.Contains(tt.name, "tab") && msg != tt.msg {
				t.Fatalf("message %q, want %q", msg, tt.msg)
			}
		})
	}
	line, col, msg := yamlpos.SyntaxError(errors.New("yaml: something odd"), nil)
	if line != 1 || col != 1 || msg != "invalid YAML: something odd" {
		t.Fatalf("an error naming no line: %d:%d %q, want 1:1", line, col, msg)
	}
}

func TestKindNameResolveJoin(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("base: &b {x: 1}\nref: *b\nlist: [1]\ns: hi\ni: 3\nf: 1.5\nt: true\nn: null\nd: 2024-01-01\n"), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		got[m.Content[i].Value] = yamlpos.KindName(m.Content[i+1])
		if m.Content[i].Value == "ref" {
			got["ref resolved"] = yamlpos.KindName(yamlpos.Resolve(m.Content[i+1]))
		}
	}
	want := map[string]string{"base": "a mapping", "ref": "an alias", "ref resolved": "a mapping", "list": "a list",
		"s": `the string "hi"`, "i": "the integer 3", "f": "the number 1.5", "t": "the boolean true", "n": "null", "d": "a scalar (timestamp)"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("KindName(%s) = %q, want %q", k, got[k], w)
		}
	}
	if yamlpos.Join("", "a") != "a" || yamlpos.Join("a[0]", "b") != "a[0].b" {
		t.Errorf("Join: %q %q", yamlpos.Join("", "a"), yamlpos.Join("a[0]", "b"))
	}
}

func TestListSortsDedupesAndWraps(t *testing.T) {
	l := yamlpos.List[problem]{
		{msg: "no place 1"},
		{"b.yaml", 2, 1, "b2"},
		{"a.yaml", 9, 1, "a9"},
		{"b.yaml", 1, 5, "b1"},
		{msg: "no place 2"},
		{"a.yaml", 3, 7, "a3"},
		{"a.yaml", 3, 2, "a3 first"},
		{"b.yaml", 1, 5, "b1"},
	}
	l.Sort()
	l = l.Dedupe()
	want := strings.Join([]string{
		// b.yaml is the first file with a place in the list.
		"b.yaml:1:5: b1", "b.yaml:2:1: b2",
		"a.yaml:3:2: a3 first", "a.yaml:3:7: a3", "a.yaml:9:1: a9",
		"no place 1", "no place 2",
	}, "\n")
	if l.Error() != want {
		t.Fatalf("sorted list:\n%s\nwant:\n%s", l.Error(), want)
	}
	var err error = l
	if !errors.Is(err, errTest) {
		t.Fatal("errors.Is(list, the sentinel) does not hold")
	}
	var back yamlpos.List[problem]
	if !errors.As(err, &back) || len(back) != 7 {
		t.Fatalf("errors.As to the list: %v, %d problems", errors.As(err, &back), len(back))
	}
	if !errors.Is(yamlpos.List[problem](nil), errTest) {
		t.Fatal("an empty list does not wrap the sentinel")
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{yamlpos.Format("f.yaml", 3, 4, `playbook "p"`, "steps[0].action", "unknown action"), `f.yaml:3:4: playbook "p": steps[0].action: unknown action`},
		{yamlpos.Format("f.yaml", 3, 4, "", "listen", "bad"), "f.yaml:3:4: listen: bad"},
		{yamlpos.Format("", 0, 0, "", "listen", "bad"), "listen: bad"},
		{yamlpos.Format("f.yaml", 1, 1, "", "", "invalid YAML: x"), "f.yaml:1:1: invalid YAML: x"},
	} {
		if tt.got != tt.want {
			t.Errorf("Format = %q, want %q", tt.got, tt.want)
		}
	}
}
