package playtest

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/firebreak/firebreak/engine/event"
)

// compare returns a readable description of how the actual decisions differ
// from the expected ones, or "" when they agree.
func compare(expect []Want, actual []Decision, events []event.Event) string {
	var b strings.Builder
	if expect == nil {
		b.WriteString("no expect: given; the decisions are:\n")
		b.WriteString(indent(toYAML(actual), "  "))
		return b.String()
	}
	if len(expect) != len(actual) {
		fmt.Fprintf(&b, "expected decisions for %d event(s), the input has %d\n", len(expect), len(actual))
	}
	for i := 0; i < max(len(expect), len(actual)); i++ {
		var want, got any
		label := fmt.Sprintf("event %d", i)
		if i < len(events) {
			ev := events[i]
			label = fmt.Sprintf("event %d (%s %s, id %s)", i, ev.Name, ev.Status, ev.ID)
		}
		switch {
		case i >= len(expect):
			got = actual[i]
		case i >= len(actual):
			want = expect[i]
		default:
			w := fill(expect[i], actual[i])
			want, got = w, actual[i]
		}
		ws, gs := toYAML(want), toYAML(got)
		if want == nil {
			ws = ""
		}
		if got == nil {
			gs = ""
		}
		if ws == gs {
			continue
		}
		fmt.Fprintf(&b, "%s: (- expected, + actual)\n", label)
		for _, l := range diffLines(splitLines(ws), splitLines(gs)) {
			b.WriteString("  ")
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// fill copies into want the parts of got that the expectation left out, so
// that they are not compared.
func fill(want, got Decision) Decision {
	want.Matched = fillPlaybooks(want.Matched, got.Matched)
	want.OnResolved = fillPlaybooks(want.OnResolved, got.OnResolved)
	if want.Matched == nil {
		want.Matched = []PlaybookDecision{}
	}
	return want
}

func fillPlaybooks(want, got []PlaybookDecision) []PlaybookDecision {
	out := make([]PlaybookDecision, len(want))
	copy(out, want)
	for i := range out {
		if i >= len(got) || out[i].Playbook != got[i].Playbook {
			continue
		}
		if out[i].DedupeKey == nil {
			out[i].DedupeKey = got[i].DedupeKey
		}
		if out[i].Steps == nil {
			out[i].Steps = got[i].Steps
			continue
		}
		if got[i].Steps == nil {
			continue
		}
		ws := append([]StepDecision(nil), (*out[i].Steps)...)
		gs := *got[i].Steps
		for k := range ws {
			if k < len(gs) && ws[k].Target == nil {
				ws[k].Target = gs[k].Target
			}
		}
		out[i].Steps = &ws
	}
	if len(out) == 0 && want == nil {
		return nil
	}
	return out
}

func toYAML(v any) string {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	_ = enc.Close()
	return b.String()
}

func indent(s, prefix string) string {
	lines := splitLines(s)
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// diffLines is a line diff by longest common subsequence: unchanged lines
// start with "  ", removed (expected) lines with "- ", added (actual) with "+ ".
func diffLines(a, b []string) []string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, "  "+a[i])
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, "- "+a[i])
	}
	for ; j < m; j++ {
		out = append(out, "+ "+b[j])
	}
	return out
}
