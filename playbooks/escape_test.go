package playbooks_test

import (
	"testing"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks"
)

// TestEscapeAppliesToTemplateValuesOnly: a parameter whose Spec sets
// Escape gets each rendered value escaped, whole templates included, while
// the author's literal text is kept as written.
func TestEscapeAppliesToTemplateValuesOnly(t *testing.T) {
	reg := actions.NewRegistry()
	if err := reg.Register(slack.New(slack.Config{}).Notify()); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Parse(reg, "p.yaml", []byte(`
name: p
match: "true"
steps:
  - action: slack.notify
    with: { channel: "#sre", text: "<!here> {{ event.name }} & {{ event.labels.user }}" }
  - action: slack.notify
    with: { channel: "#sre", text: "{{ event.name }}" }
  - action: slack.notify
    with: { channel: "#sre", text: "<!channel> literal & only" }
`))
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{Name: "<!channel>", Labels: map[string]string{"user": "a&b"}}
	for i, want := range []string{
		"<!here> &lt;!channel&gt; & a&amp;b",
		"&lt;!channel&gt;",
		"<!channel> literal & only",
	} {
		params, err := set.Playbooks[0].Steps[i].Render(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := params["text"]; got != want {
			t.Errorf("step %d: text %q, want %q", i, got, want)
		}
	}
}
