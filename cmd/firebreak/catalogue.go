package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/firebreak/firebreak/actions"
)

// ActionsMarkdown renders the action catalogue as the Markdown docs/actions.md's
// action reference holds; a test keeps the two equal.
func ActionsMarkdown(specs []actions.Spec) string {
	var b strings.Builder
	for _, s := range specs {
		fmt.Fprintf(&b, "### `%s`\n\n%s\n\n", s.ID, s.Description)
		flags := []string{}
		if s.Destructive {
			flags = append(flags, "destructive")
		}
		if s.Reversible {
			flags = append(flags, "reversible")
		}
		if len(flags) > 0 {
			fmt.Fprintf(&b, "Flags: %s.", strings.Join(flags, ", "))
			if len(s.Permissions) > 0 {
				b.WriteString(" ")
			}
		}
		if len(s.Permissions) > 0 {
			fmt.Fprintf(&b, "Needs: %s.", strings.Join(s.Permissions, "; "))
		}
		if len(flags) > 0 || len(s.Permissions) > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString("| parameter | type | required | description |\n| --- | --- | --- | --- |\n")
		for _, p := range s.Params {
			req := ""
			if p.Required {
				req = "yes"
			}
			doc := p.Doc
			if len(p.Enum) > 0 {
				doc += " (one of " + strings.Join(p.Enum, ", ") + ")"
			}
			if p.Default != nil {
				doc += fmt.Sprintf(" (default %v)", p.Default)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Name, p.Type, req, strings.ReplaceAll(doc, "|", "\\|"))
		}
		ex, _ := json.Marshal(s.Example)
		fmt.Fprintf(&b, "\nExample `with`: `%s`\n\n", ex)
	}
	return b.String()
}
