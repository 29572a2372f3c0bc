package engine

import (
	"context"

	"github.com/firebreak/firebreak/engine/state"
)

// carry holds an event's writes that need not be durable on their own —
// its received and matched records, a dry run's record, a step's outcome —
// until the event's next commit, which follows without anything acting in
// between: the next step's claim (committed before that step acts), the
// close of an on_resolved mark, or the event's finish. They run first in
// that transaction, so the trail keeps its order and every read in it sees
// them. This halves the transactions of an event with one step (four to
// two) and makes an unmatched event one; a phase's last dry run, decided
// in the next commit (deferDryRun), makes a shadow event with one step one
// too. A crash before that commit loses nothing acknowledged: the event
// is not finished and is processed again (a started step's claim then
// says interrupted, as before).
type carry struct {
	pending []func(state.Tx) error
	// afters run once the commit that carried pending succeeded: the
	// logging and counting of decisions made in it (deferDryRun).
	afters []func()
	// actOnStale lets this run's steps act although the event is stale:
	// an operator forced the retry (ContinueStale). Not a write; it rides
	// here because carry is the one value that follows a run's steps.
	actOnStale bool
	// finishing says the next commit is the event's finish: writes that
	// only matter if the event is processed again can be left out of it.
	finishing bool
}

// later adds fn to the writes of the event's next commit.
func (c *carry) later(fn func(state.Tx) error) { c.pending = append(c.pending, fn) }

// afterCommit adds fn to what runs once the event's next commit succeeded.
func (c *carry) afterCommit(fn func()) { c.afters = append(c.afters, fn) }

// update commits fn together with the carried writes, which run first.
func (e *Engine) update(ctx context.Context, c *carry, fn func(state.Tx) error) error {
	if c == nil || len(c.pending) == 0 {
		return e.cfg.Store.Update(ctx, fn)
	}
	pending := c.pending
	err := e.cfg.Store.Update(ctx, func(tx state.Tx) error {
		for _, p := range pending {
			if err := p(tx); err != nil {
				return err
			}
		}
		if fn == nil {
			return nil
		}
		return fn(tx)
	})
	if err == nil {
		c.pending = nil
		afters := c.afters
		c.afters = nil
		for _, fn := range afters {
			fn()
		}
	}
	return err
}

// flush commits the carried writes, if any.
func (e *Engine) flush(ctx context.Context, c *carry) error {
	if len(c.pending) == 0 {
		return nil
	}
	if err := e.update(ctx, c, nil); err != nil {
		return wrapf(err, "record step outcomes")
	}
	return nil
}
