package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/web"
)

// slackBreakerNotifier posts the breaker-opened message to Slack with a
// Reset button, when guards.notify is slack.notify and the Slack client can
// post. The click comes back to /slack/interactions (slackBreakerReset).
type slackBreakerNotifier struct {
	c *slack.Client
	// channel is guards.notify.with.channel; empty is the client's default.
	channel string
}

// Notify implements guard.Notifier.
func (n *slackBreakerNotifier) Notify(ctx context.Context, note guard.Notification) error {
	_, _, err := n.c.PostBreakerOpened(ctx, breakerMessage(note.BreakerID, note.Playbook, note.Target, note.Reason, note.RetryAt, n.channel))
	return err
}

func breakerMessage(id, playbook, target, reason string, retryAt time.Time, channel string) slack.BreakerMessage {
	return slack.BreakerMessage{BreakerID: id, Channel: channel, Playbook: playbook, Target: target, Reason: reason, RetryAt: retryAt}
}

// slackBreakerReset resets a breaker from a verified click on its Reset
// button. Whoever clicks must be on the approvals allow-list
// (approvals.allowed_users / allowed_groups); the reset is the API's
// (guard.ResetBreaker), audited with the actor "slack:USER_ID"; a refusal
// is audited too and answered privately in Slack.
type slackBreakerReset struct {
	guard *guard.Guard
	// allowed is the approval gate's allow-list check, bound late (the
	// gate is built after the guard).
	allowed func(ctx context.Context, userID string) (bool, error)
	c       *slack.Client
	audit   func(ctx context.Context, recs ...audit.Record) error
	now     func() time.Time
	log     *slog.Logger
	wg      sync.WaitGroup
}

// ResetFromSlack implements web.SlackBreakers. It returns at once (Slack
// wants an answer within 3 seconds) and acts in the background.
func (r *slackBreakerReset) ResetFromSlack(ctx context.Context, in web.SlackClick) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		r.reset(ctx, in)
	}()
}

// Close waits for resets under way.
func (r *slackBreakerReset) Close() error {
	r.wg.Wait()
	return nil
}

func (r *slackBreakerReset) reset(ctx context.Context, in web.SlackClick) {
	actor := "slack:" + in.UserID
	log := r.log.With("breaker_id", in.BreakerID, "actor", actor)
	refuse := func(why, reply string) {
		rec := audit.Record{Kind: guard.KindBreakerReset, Source: "slack", Outcome: "refused", Actor: actor,
			Message: "circuit breaker reset refused: " + why,
			Data:    map[string]any{"breaker_id": in.BreakerID, "via": "slack", "slack_user_id": in.UserID}}
		if err := r.audit(ctx, rec); err != nil {
			log.Error("writing an audit record failed", "kind", rec.Kind, "error", err)
		}
		log.Warn("circuit breaker reset from slack refused", "why", why)
		if err := r.c.PostEphemeral(ctx, in.ChannelID, in.UserID, reply); err != nil {
			log.Warn("telling the slack user why the reset was refused failed", "error", err)
		}
	}
	ok, err := false, error(nil)
	if r.allowed != nil {
		ok, err = r.allowed(ctx, in.UserID)
	}
	switch {
	case err != nil:
		refuse("checking the allow-list failed: "+err.Error(), "Firebreak could not check whether you may reset circuit breakers; nothing was reset.")
		return
	case !ok:
		refuse("user "+in.UserID+" is not in approvals.allowed_users or approvals.allowed_groups",
			"You are not allowed to reset circuit breakers (approvals.allowed_users / allowed_groups); nothing was reset.")
		return
	}
	st, err := r.guard.ResetBreaker(ctx, in.BreakerID, actor)
	if errors.Is(err, guard.ErrUnknownBreaker) {
		refuse("no breaker with id "+in.BreakerID, "There is no circuit breaker "+in.BreakerID+"; nothing was reset.")
		return
	}
	if err != nil {
		log.Error("resetting a circuit breaker from slack failed", "error", err)
		if perr := r.c.PostEphemeral(ctx, in.ChannelID, in.UserID, "Resetting the circuit breaker failed; try again or use POST /api/v1/breakers/"+in.BreakerID+"/reset."); perr != nil {
			log.Warn("telling the slack user the reset failed failed", "error", perr)
		}
		return
	}
	m := breakerMessage(st.ID, st.Playbook, st.Target, "", time.Time{}, in.ChannelID)
	if err := r.c.UpdateBreakerReset(ctx, in.ChannelID, in.MessageTS, m, slack.BreakerReset{By: in.UserID, At: r.now()}); err != nil {
		log.Warn("updating the breaker message failed; the breaker is reset", "error", err)
	}
}
