package config

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/guard"
)

// actionNotifier tells humans through a registered action that a breaker
// opened (guards.notify).
type actionNotifier struct {
	act  actions.Action
	with map[string]any
}

// NewNotifier returns the breaker notifier of guards.notify, running the
// action of cat (the app's registry). Validate has checked the same call
// against the catalogue, so an error here means the registry differs.
func NewNotifier(cat Catalog, nc GuardNotifyConfig) (guard.Notifier, error) {
	act, err := cat.Get(nc.Action)
	if err != nil {
		return nil, err
	}
	n := &actionNotifier{act: act, with: nc.With}
	sample := guard.Notification{Kind: string(guard.KindBreakerOpened), BreakerID: "0000000000000000", Playbook: "example", Target: "Deployment/shop/cart", Reason: "3 runs failed in the last 30m0s"}
	if err := act.Validate(n.params(sample), true); err != nil {
		return nil, fmt.Errorf("%s: %w", nc.Action, err)
	}
	return n, nil
}

// params fills the action's text or body parameter with the notification,
// unless the configuration sets it.
func (n *actionNotifier) params(note guard.Notification) map[string]any {
	p := make(map[string]any, len(n.with)+1)
	for k, v := range n.with {
		p[k] = v
	}
	for _, prm := range n.act.Spec().Params {
		if _, set := p[prm.Name]; set {
			continue
		}
		switch prm.Name {
		case "text":
			p["text"] = note.Text()
		case "body":
			var body map[string]any
			b, _ := json.Marshal(note)
			_ = json.Unmarshal(b, &body)
			body["text"] = note.Text()
			p["body"] = body
		}
	}
	return p
}

// Notify implements guard.Notifier.
func (n *actionNotifier) Notify(ctx context.Context, note guard.Notification) error {
	_, err := n.act.Run(ctx, actions.Request{Params: n.params(note), Playbook: note.Playbook, Attempt: 1})
	return err
}
