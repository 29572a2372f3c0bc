package playbooks

// Key documents one key of the playbook format. The loader takes its lists
// of allowed keys from these tables and `firebreak schema` builds the JSON
// Schema from them, so the two cannot drift apart.
type Key struct {
	Name string
	// Type is the YAML type as docs/playbooks.md shows it: string, expr, duration,
	// int, bool, template map, list of steps …
	Type     string
	Required bool
	Default  string
	Doc      string
	// Sub lists the keys of a nested mapping.
	Sub []Key
}

// PlaybookKeys lists the keys of a playbook document.
var PlaybookKeys = []Key{
	{Name: "name", Type: "string", Required: true, Doc: "Unique name of the playbook across every loaded file; used in the audit trail, metrics and the API."},
	{Name: "description", Type: "string", Doc: "What the playbook does, for humans."},
	{Name: "owner", Type: "string", Doc: "Team or person responsible for the playbook."},
	{Name: "match", Type: "expr (bool)", Required: true, Doc: "Rule over the normalised event; the playbook runs when it is true. Compiled at load time with a node limit."},
	{Name: "mode", Type: "string", Default: "auto", Doc: "auto: run the steps; approve: every step waits for a human; shadow: plan, guard and audit every step, never execute."},
	{Name: "dedupe", Type: "mapping", Doc: "Runs for the same dedupe key within the window are skipped (audited as deduped).", Sub: []Key{
		{Name: "key", Type: "expr", Default: "the event fingerprint (or id)", Doc: "Expression whose value (as a string) identifies repeats."},
		{Name: "window", Type: "duration", Required: true, Doc: "How long a key suppresses repeats, such as 15m."},
	}},
	{Name: "budget", Type: "string or list of strings", Doc: "Rate windows per target, each \"COUNT/WINDOW\" such as \"3/1h\"; a run beyond any of them is refused (budget_exhausted)."},
	{Name: "breaker", Type: "mapping", Doc: "Circuit breaker per playbook × target.", Sub: []Key{
		{Name: "failures", Type: "int ≥ 1", Default: "3", Doc: "Failures (or unverified runs) within the window that open the breaker."},
		{Name: "window", Type: "duration", Default: "30m", Doc: "Window in which failures are counted."},
		{Name: "cooldown", Type: "duration", Default: "1h", Doc: "How long the breaker stays open before one trial run (half-open)."},
		{Name: "verify", Type: "duration", Default: "0 (off)", Doc: "A run whose alert has not resolved within this time counts as a failure."},
	}},
	{Name: "approval", Type: "mapping", Doc: "How approvals of this playbook's steps work.", Sub: []Key{
		{Name: "expires", Type: "duration", Default: "30m", Doc: "An undecided approval is denied after this long."},
		{Name: "approvers", Type: "int ≥ 1", Default: "1", Doc: "Distinct people who must approve (2 for a two-person rule)."},
		{Name: "requester", Type: "expr", Default: "nobody", Doc: "Expression naming who asked for the action, as a Slack user id or api:TOKEN-NAME (such as event.labels.requested_by, for an alert a chat-ops bot raised); shown in the request, and under a two-person rule that person's approval does not count."},
	}},
	{Name: "steps", Type: "list of steps", Required: true, Doc: "Steps run in order when the rule matches a firing or resolved event."},
	{Name: "on_resolved", Type: "list of steps", Doc: "Steps run when the alert (same fingerprint) that made this playbook act resolves."},
	{Name: "revert_on_resolve", Type: "bool", Default: "false", Doc: "Add to on_resolved, after its own steps, a restore of every step whose action can restore (kubernetes.scale), last step first: each puts back what that step changed."},
}

// StepKeys lists the keys of a step.
var StepKeys = []Key{
	{Name: "name", Type: "string", Doc: "Label for the step in logs and the audit trail."},
	{Name: "action", Type: "string", Required: true, Doc: "Action id from the registry (firebreak actions), such as webhook.notify."},
	{Name: "with", Type: "mapping", Default: "{}", Doc: "The action's parameters; values may be literals or templates. Checked against the action's parameter list at load time."},
	{Name: "when", Type: "expr (bool)", Doc: "Run the step only when true; otherwise it is skipped (audited as when_false)."},
	{Name: "timeout", Type: "duration", Default: "30s", Doc: "Deadline of one attempt."},
	{Name: "retries", Type: "int ≥ 0", Default: "0", Doc: "Extra attempts after a failure, with exponential backoff (1s doubling, capped at 1m) and jitter; permanent errors are not retried."},
	{Name: "approval", Type: "string", Default: "none", Doc: "required: the step waits for a human decision; none: it does not (mode: approve overrides)."},
	{Name: "continue_on_error", Type: "bool", Default: "false", Doc: "Go on to the next step when this one fails or is refused."},
}

func keyNames(keys []Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Name
	}
	return out
}

func subKeyNames(keys []Key, name string) []string {
	for _, k := range keys {
		if k.Name == name {
			return keyNames(k.Sub)
		}
	}
	panic("playbooks: no key " + name)
}

var (
	playbookKeyNames = keyNames(PlaybookKeys)
	stepKeyNames     = keyNames(StepKeys)
	dedupeKeyNames   = subKeyNames(PlaybookKeys, "dedupe")
	breakerKeyNames  = subKeyNames(PlaybookKeys, "breaker")
	approvalKeyNames = subKeyNames(PlaybookKeys, "approval")
)
