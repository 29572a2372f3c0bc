package guard

import (
	"context"
	"encoding/json"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

// Notification tells humans that a breaker opened.
type Notification struct {
	Kind      string    `json:"kind"`
	BreakerID string    `json:"breaker_id"`
	Playbook  string    `json:"playbook"`
	Target    string    `json:"target"`
	Reason    string    `json:"reason"`
	EventID   string    `json:"event_id,omitempty"`
	At        time.Time `json:"at"`
	RetryAt   time.Time `json:"retry_at"`
}

// Text is the notification as one human sentence.
func (n Notification) Text() string {
	return "Firebreak circuit breaker " + n.BreakerID + " opened: playbook " + n.Playbook + " on " + targetName(n.Target) +
		" (" + n.Reason + "). Nothing more runs there until " + n.RetryAt.UTC().Format(time.RFC3339) +
		", when one trial run is allowed; reset it with POST /api/v1/breakers/" + n.BreakerID + "/reset."
}

// Notifier delivers breaker notifications to humans. Notify may call out;
// it is never called inside a transaction.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n Notification) error

// Notify implements Notifier.
func (f NotifierFunc) Notify(ctx context.Context, n Notification) error { return f(ctx, n) }

func (g *Guard) wake() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// RunNotifier delivers queued breaker notifications until ctx ends: each
// is logged, given to the Notifier, audited as breaker.notified and removed
// from the outbox. A failed delivery stays queued and is retried every
// retry interval (default 30s), across restarts.
//
// A breaker is opened inside a transaction that commits after the guard
// returns, so a wake-up may arrive before its notification is visible:
// after each wake-up the outbox is polled briefly (every 50ms for 2s).
func (g *Guard) RunNotifier(ctx context.Context, retry time.Duration) {
	if retry <= 0 {
		retry = 30 * time.Second
	}
	t := time.NewTicker(retry)
	defer t.Stop()
	eager := 0
	for {
		g.DeliverNotifications(ctx)
		var poll <-chan time.Time
		if eager > 0 {
			eager--
			poll = time.After(50 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-g.kick:
			eager = 40
		case <-t.C:
		case <-poll:
		}
	}
}

type queued struct {
	key string
	n   Notification
}

// DeliverNotifications sends what the outbox holds now and returns how
// many were delivered.
func (g *Guard) DeliverNotifications(ctx context.Context) int {
	var items []queued
	err := g.cfg.Store.View(ctx, func(tx state.Tx) error {
		items = items[:0]
		return tx.ForEach(bucketOutbox, func(k string, v []byte) error {
			var n Notification
			if err := json.Unmarshal(v, &n); err != nil {
				g.log.Error("dropping an unreadable breaker notification", "key", k, "error", err)
				n = Notification{}
			}
			items = append(items, queued{k, n})
			return nil
		})
	})
	if err != nil {
		g.log.Error("reading the breaker notification outbox failed", "error", err)
		return 0
	}
	sent := 0
	for _, it := range items {
		n := it.n
		outcome, actor := "logged", "log"
		if n.Kind != "" {
			g.log.Warn("circuit breaker opened", "breaker_id", n.BreakerID, "playbook", n.Playbook, "target", n.Target,
				"reason", n.Reason, "retry_at", n.RetryAt)
			if g.cfg.Notifier != nil {
				nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := g.cfg.Notifier.Notify(nctx, n)
				cancel()
				if err != nil {
					g.log.Warn("notifying about an open breaker failed; will retry", "breaker_id", n.BreakerID, "error", err)
					return sent
				}
				outcome, actor = "sent", "notifier"
			}
		}
		err := g.cfg.Store.Update(ctx, func(tx state.Tx) error {
			if tx.Get(bucketOutbox, it.key) == nil {
				return nil
			}
			if err := tx.Delete(bucketOutbox, it.key); err != nil {
				return err
			}
			if n.Kind == "" {
				return nil
			}
			return tx.Audit(audit.Record{Kind: KindBreakerNotified, EventID: n.EventID, Playbook: n.Playbook, Target: n.Target,
				Outcome: outcome, Actor: actor, Message: "humans told that circuit breaker " + n.BreakerID + " opened",
				Data: map[string]any{"breaker_id": n.BreakerID}})
		})
		if err != nil {
			g.log.Error("recording a breaker notification failed", "breaker_id", n.BreakerID, "error", err)
			return sent
		}
		sent++
	}
	return sent
}
