package playbooks

import (
	"strings"

	"github.com/firebreak/firebreak/actions"
)

// SchemaID is the $id of the playbook JSON Schema.
const SchemaID = "https://firebreak.dev/schemas/playbook.json"

const (
	durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	templatePattern = `^\s*\{\{.*\}\}\s*$`
	budgetPattern   = `^\s*[1-9][0-9]*\s*/\s*([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+\s*$`
)

// Schema returns a JSON Schema (draft-07, as the YAML language server
// expects) of one playbook document. It is built from the same key tables
// the loader uses, and from the actions' parameter lists, so that editors
// complete `with:` for each action.
func Schema(specs []actions.Spec) map[string]any {
	defs := map[string]any{
		"duration": map[string]any{"type": "string", "pattern": durationPattern, "description": "A Go duration such as 30s, 15m or 1h30m."},
		"template": map[string]any{"type": "string", "pattern": templatePattern, "description": "One whole {{ expr }} template; it keeps the expression's type."},
		"expr":     map[string]any{"type": "string", "minLength": 1, "description": "An expr expression over the event; see the README for the environment and helpers."},
	}
	ids := make([]string, 0, len(specs))
	var conds []any
	for _, s := range specs {
		ids = append(ids, s.ID)
		defs["with."+s.ID] = withSchema(s)
		conds = append(conds, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"action": map[string]any{"const": s.ID}}, "required": []string{"action"}},
			"then": map[string]any{"properties": map[string]any{"with": map[string]any{"$ref": "#/definitions/with." + s.ID}}},
		})
	}
	step := objectSchema(StepKeys, ids)
	step["description"] = "One action of the playbook."
	if len(conds) > 0 {
		step["allOf"] = conds
	}
	defs["step"] = step
	root := objectSchema(PlaybookKeys, ids)
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	root["$id"] = SchemaID
	root["title"] = "Firebreak playbook"
	root["definitions"] = defs
	return root
}

func objectSchema(keys []Key, actionIDs []string) map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, k := range keys {
		s := keySchema(k, actionIDs)
		s["description"] = docWithDefault(k)
		props[k.Name] = s
		if k.Required {
			required = append(required, k.Name)
		}
	}
	out := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func docWithDefault(k Key) string {
	if k.Default == "" {
		return k.Doc
	}
	return k.Doc + " Default: " + k.Default + "."
}

func keySchema(k Key, actionIDs []string) map[string]any {
	switch {
	case k.Name == "mode":
		return map[string]any{"type": "string", "enum": []string{ModeAuto, ModeApprove, ModeShadow}}
	case k.Name == "approval" && k.Sub == nil:
		return map[string]any{"type": "string", "enum": []string{"required", "none"}}
	case k.Name == "action":
		s := map[string]any{"type": "string"}
		if len(actionIDs) > 0 {
			s["enum"] = actionIDs
		}
		return s
	case k.Name == "budget":
		one := map[string]any{"type": "string", "pattern": budgetPattern}
		return map[string]any{"oneOf": []any{one, map[string]any{"type": "array", "minItems": 1, "items": one}}}
	case k.Name == "with":
		return map[string]any{"type": "object"}
	case k.Sub != nil:
		return objectSchema(k.Sub, actionIDs)
	case strings.HasPrefix(k.Type, "expr"):
		return map[string]any{"$ref": "#/definitions/expr"}
	case k.Type == "duration":
		return map[string]any{"$ref": "#/definitions/duration"}
	case strings.HasPrefix(k.Type, "int"):
		s := map[string]any{"type": "integer"}
		if strings.HasSuffix(k.Type, "≥ 1") {
			s["minimum"] = 1
		} else {
			s["minimum"] = 0
		}
		return s
	case k.Type == "bool":
		return map[string]any{"type": "boolean"}
	case k.Type == "list of steps":
		s := map[string]any{"type": "array", "items": map[string]any{"$ref": "#/definitions/step"}}
		if k.Required {
			s["minItems"] = 1
		}
		return s
	}
	return map[string]any{"type": "string"}
}

// withSchema describes an action's parameters.
func withSchema(s actions.Spec) map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, p := range s.Params {
		ps := paramSchema(p)
		ps["description"] = p.Doc
		if p.Default != nil {
			ps["default"] = p.Default
		}
		props[p.Name] = ps
		if p.Required && p.Default == nil {
			required = append(required, p.Name)
		}
	}
	out := map[string]any{"type": "object", "additionalProperties": false, "properties": props, "description": s.Description}
	if len(required) > 0 {
		out["required"] = required
	}
	var oneOf []any
	for _, group := range s.OneOf {
		alts := make([]any, 0, len(group))
		for _, name := range group {
			alts = append(alts, map[string]any{"required": []string{name}})
		}
		oneOf = append(oneOf, map[string]any{"oneOf": alts})
	}
	if len(oneOf) > 0 {
		out["allOf"] = oneOf
	}
	return out
}

func paramSchema(p actions.Param) map[string]any {
	tmpl := map[string]any{"$ref": "#/definitions/template"}
	switch p.Type {
	case actions.String:
		s := map[string]any{"type": "string"}
		if len(p.Enum) > 0 {
			return map[string]any{"anyOf": []any{map[string]any{"type": "string", "enum": p.Enum}, tmpl}}
		}
		return s
	case actions.Int:
		n := map[string]any{"type": "integer"}
		if p.Min != nil {
			n["minimum"] = *p.Min
		}
		if p.Max != nil {
			n["maximum"] = *p.Max
		}
		return map[string]any{"anyOf": []any{n, tmpl}}
	case actions.Bool:
		return map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, tmpl}}
	case actions.Duration:
		return map[string]any{"anyOf": []any{map[string]any{"$ref": "#/definitions/duration"}, tmpl}}
	case actions.Map:
		return map[string]any{"anyOf": []any{map[string]any{"type": "object"}, tmpl}}
	}
	return map[string]any{}
}
