package actions

import (
	"context"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// ParamType is the type a parameter value must have once rendered.
type ParamType string

// Parameter types.
const (
	String   ParamType = "string"
	Int      ParamType = "int"
	Bool     ParamType = "bool"
	Duration ParamType = "duration" // a Go duration string such as "15m"
	Map      ParamType = "map"      // an object of string keys
	Any      ParamType = "any"      // any JSON value (a webhook body, say)
)

// Param documents one parameter an action accepts.
type Param struct {
	Name     string    `json:"name"`
	Type     ParamType `json:"type"`
	Required bool      `json:"required,omitempty"`
	Doc      string    `json:"doc"`
	// Default is used when the parameter is absent; nil means none.
	Default any `json:"default,omitempty"`
	// Enum, when set, lists the only allowed values (strings).
	Enum []string `json:"enum,omitempty"`
	// Min and Max bound Int parameters when non-nil.
	Min *int `json:"min,omitempty"`
	Max *int `json:"max,omitempty"`
	// Secret marks a parameter whose value must never be logged or audited.
	Secret bool `json:"secret,omitempty"`
	// Escape, when set, is applied by the playbook renderer to the text
	// each template expression renders into this parameter (event data),
	// never to the text the author wrote: slack.notify escapes mrkdwn so
	// that event data cannot mention anyone while the author's own
	// mentions stay live.
	Escape func(string) string `json:"-"`
}

// Spec is what an action says about itself: the catalogue printed by
// `firebreak actions` and the README's action reference are made from it.
type Spec struct {
	// ID is namespaced: kubernetes.restart, webhook.notify.
	ID          string  `json:"id"`
	Description string  `json:"description"`
	Params      []Param `json:"params"`
	// OneOf lists groups of parameters of which exactly one must be given
	// (webhook.notify: url, url_env or url_file). The playbook loader checks
	// them, templated parameters included.
	OneOf [][]string `json:"one_of,omitempty"`
	// Example is a valid `with:` block.
	Example map[string]any `json:"example"`
	// Destructive actions change production state (restart, scale, block).
	Destructive bool `json:"destructive"`
	// Reversible actions undo themselves or can be undone (an IP block expires).
	Reversible bool `json:"reversible"`
	// RestoreDrops lists the parameters a restore run (RestoreParam true)
	// does not take, for an action that has RestoreParam: a playbook's
	// revert_on_resolve copies a step's parameters without them.
	RestoreDrops []string `json:"-"`
	// Permissions lists the RBAC rules or host privileges the action needs,
	// for example "apps/deployments: get, patch" or "CAP_NET_ADMIN".
	Permissions []string `json:"permissions,omitempty"`
}

// Target names what an action run touches. Guards (protected targets,
// budgets, breakers) key on it.
type Target struct {
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	IP        string `json:"ip,omitempty"`
}

// String returns a stable key for the target, such as
// "Deployment/shop/cart" or "ip/192.0.2.7".
func (t Target) String() string {
	switch {
	case t.IP != "":
		return "ip/" + t.IP
	case t.Namespace != "":
		return t.Kind + "/" + t.Namespace + "/" + t.Name
	case t.Kind != "" || t.Name != "":
		return t.Kind + "/" + t.Name
	}
	return ""
}

// Request is one execution of an action.
type Request struct {
	// Params are the rendered parameters, already checked by Validate.
	Params map[string]any
	// Event is the event that triggered the run; read-only.
	Event *event.Event
	// Playbook and Step name the step being run.
	Playbook string
	Step     int
	// DryRun asks the action to say exactly what it would do and change nothing.
	DryRun bool
	// Attempt counts from 1.
	Attempt int
	// Restore, for a step whose restore parameter is true, is the Undo an
	// earlier run of the same action by the same playbook on the same
	// target recorded; the engine passes it and never runs a restore step
	// without one.
	Restore map[string]any
	// Written says how the playbook author wrote each parameter, so an
	// action can tell text the author wrote from text rendered out of
	// event data (webhook.notify's URL host). Nil means every parameter
	// was written literally (configuration, tests).
	Written Written
}

// Written tells an action which part of a rendered parameter the playbook
// author wrote. playbooks.Step implements it.
type Written interface {
	// LiteralPrefix returns the literal text before the first template
	// expression of parameter name as written, and whether the value
	// holds a template at all (for a list or mapping: anywhere in it).
	LiteralPrefix(name string) (prefix string, templated bool)
}

// LiteralPrefix asks req.Written about parameter name; without Written
// every parameter is literal.
func (req Request) LiteralPrefix(name string) (string, bool) {
	if req.Written == nil {
		return "", false
	}
	return req.Written.LiteralPrefix(name)
}

// RestoreParam is the boolean parameter by which a reversible action's
// step asks to put back what an earlier run of it changed (an on_resolved
// `with: { restore: true }`). The engine reads it by this name.
const RestoreParam = "restore"

// Result is what a run observed and did. It is written to the audit trail.
type Result struct {
	// Summary is one human sentence: "restarted Deployment shop/cart".
	Summary string `json:"summary"`
	// Before and After hold what the action observed before and after the
	// change (for Kubernetes: resourceVersion and the changed fields).
	Before map[string]any `json:"before,omitempty"`
	After  map[string]any `json:"after,omitempty"`
	// Output holds values later steps or on_resolved steps may use
	// (previous replica count, Slack thread ts, …).
	Output map[string]any `json:"output,omitempty"`
	// RetryAfter, when set on a failed run, is the delay the remote system asked for.
	RetryAfter time.Duration `json:"-"`
	// Undo, when set by a run that changed something, is what a restore
	// run of the same action needs to put it back (for kubernetes.scale,
	// the replica count before). The engine keeps the first one per
	// playbook and target until a restore step uses it or retention
	// forgets the event that made it.
	Undo map[string]any `json:"-"`
}

// Action is one integration. Implementations must be safe for concurrent use.
type Action interface {
	// Spec describes the action. It is called for every planned step, so
	// it should not build its description anew each time; callers must not
	// modify what it returns (its slices and maps may be shared).
	Spec() Spec
	// Validate checks parameters at load time (only literal values are
	// present; templated ones are absent) and again at run time with every
	// value rendered. Errors should be ParamError values, joined.
	Validate(params map[string]any, final bool) error
	// Target returns what a run with these rendered parameters touches.
	Target(params map[string]any) Target
	// Run executes the action. It must honour ctx (its deadline is the
	// step's timeout) and, with req.DryRun, change nothing.
	Run(ctx context.Context, req Request) (Result, error)
}
