package playbooks_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/firebreak/firebreak/playbooks"
)

// markerPosition returns the 1-based line and character column of the only
// occurrence of "bogus" in text.
func markerPosition(t *testing.T, text string) (int, int) {
	t.Helper()
	if strings.Count(text, "bogus") != 1 {
		t.Fatal("the test text must hold exactly one bogus")
	}
	for i, line := range strings.Split(text, "\n") {
		if j := strings.Index(line, "bogus"); j >= 0 {
			return i + 1, utf8.RuneCountInString(line[:j]) + 1
		}
	}
	return 0, 0
}

// TestExprErrorPositions checks that an expression error points at the
// broken token (the unknown name "bogus") in every YAML scalar style, in
// rules and in templates.
func TestExprErrorPositions(t *testing.T) {
	const head = "name: p\n"
	const step = "steps: [{action: webhook.notify, with: {url: 'http://x'}}]\n"
	tests := []struct {
		name string
		yaml string
		// shift is added to the marker's column: a bad string constant is
		// reported at its opening quote.
		shift int
	}{
		{"plain", head + "match: event.name == bogus\n" + step, 0},
		{"plain multi-line", head + "match: event.name == \"a\" &&\n  event.source ==\n    bogus\n" + step, 0},
		{"double quoted", head + "match: \"event.name == bogus\"\n" + step, 0},
		{"double quoted with escapes", head + "match: \"event.name == \\\"\\u00e9\\t\\\" || event.name ==\\\n  bogus\"\n" + step, 0},
		{"double quoted folded", head + "match: \"event.name == 'a' ||\n   event.name == bogus\"\n" + step, 0},
		{"single quoted with doubled quotes", head + "match: 'event.name == ''it'' || event.name == ''''|| bogus'\n" + step, 0},
		{"single quoted folded", head + "match: 'event.name == \"a\"\n\n  || bogus'\n" + step, 0},
		{"literal", head + "match: |\n  event.source == \"x\"\n    && event.name == \"é\"\n  && bogus\n" + step, 0},
		{"literal with comment and indent indicator", head + "match: |2 # the rule\n   event.source == \"x\" && bogus\n" + step, 0},
		{"folded", head + "match: >\n  event.source == \"alertmanager\"\n  && event.name ==\n  \"X\" && event.labels.a == \"b\"\n\n  && bogus == 1\n" + step, 0},
		{"folded more indented", head + "match: >-\n    event.source == \"x\"\n      && event.name == \"y\"\n    && bogus\n" + step, 0},
		{"template in plain", head + "match: 'true'\nsteps:\n  - action: webhook.notify\n    with:\n      url: http://x/{{ bogus }}\n", 0},
		{"second template in double quoted", head + "match: 'true'\nsteps:\n  - action: webhook.notify\n    with:\n      url: \"http://x/{{ event.name }}/\\t{{\n        lower(bogus) }}\"\n", 0},
		{"template in folded", head + "match: 'true'\nsteps:\n  - action: webhook.notify\n    with:\n      url: http://x\n      body: >\n        {{ event.name }} is\n        {{ upper(event.severity) }} for\n        {{ bogus }}\n", 0},
		{"template in literal", head + "match: 'true'\nsteps:\n  - action: webhook.notify\n    with:\n      url: http://x\n      body: |\n        line one {{ event.name }}\n        {{ event.labels.x + bogus }}\n", 0},
		{"when", head + "match: 'true'\nsteps:\n  - action: webhook.notify\n    when: >\n      event.severity == \"critical\" &&\n      bogus\n    with: {url: http://x}\n", 0},
		{"plain with an anchor", head + "match: &rule event.name == bogus\n" + step, 0},
		{"double quoted with a tag", head + "match: !!str \"event.name == bogus\"\n" + step, 0},
		{"literal with anchor and tag", head + "match: &r !!str |\n  event.name ==\n    bogus\n" + step, 0},
		{"folded keep with anchor", head + "match: &r >+\n  event.name == \"a\"\n  || bogus\n\n" + step, 0},
		{"dedupe key", head + "match: 'true'\ndedupe:\n  key: event.labels.ns + bogus\n  window: 1m\n" + step, 0},
		{"approval requester", head + "match: 'true'\napproval:\n  approvers: 2\n  requester: event.labels.by ?? bogus\n" + step, 0},
		{"cidr constant", head + "match: cidr(event.src_ip, \"10.0.0.0/8\",\n  \"bogus\")\n" + step, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, col := markerPosition(t, tt.yaml)
			col += tt.shift
			_, err := playbooks.Parse(testRegistry(t), "p.yaml", []byte(tt.yaml))
			var ps playbooks.Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("want one problem, got %v", err)
			}
			p := ps[0]
			if !strings.Contains(p.Msg, "invalid expression") {
				t.Fatalf("problem %v is not an expression error", p)
			}
			if p.Line != line || p.Column != col {
				t.Errorf("%s\nreported at %d:%d, bogus is at %d:%d", p, p.Line, p.Column, line, col)
			}
		})
	}
}
