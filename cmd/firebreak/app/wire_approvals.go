package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/store"
)

// approvalsFeature is the approval gate as wired into the app: the service
// (which the engine sees as its Approver) and what its routes need.
type approvalsFeature struct {
	*approval.Service
	db store.Backend
}

// List implements web.Approvals.
func (f *approvalsFeature) List(ctx context.Context, filter approval.Filter) ([]approval.Approval, error) {
	return approval.List(ctx, f.db, filter)
}

// Get implements web.Approvals.
func (f *approvalsFeature) Get(ctx context.Context, id string) (approval.Approval, error) {
	return approval.Get(ctx, f.db, id)
}

// setupApprovals builds the approval gate before the engine exists; the
// engine is bound late, when an approval completes.
func setupApprovals(a *App) error {
	cfg := a.Config.Approvals
	secret, botToken := a.res.SigningSecret, a.res.BotToken
	log := a.log.With("component", "approvals")
	now := a.opts.Now
	var sc approval.Notifier
	if botToken != "" {
		// The approvals' bot client calls Slack under the same outbound
		// policy and TLS as slack.notify (actions.http).
		var hc *http.Client
		if a.Actions != nil {
			hc = a.Actions.SlackHTTP
		}
		sc = slack.NewApprovalNotifier(slack.New(slack.Config{Token: botToken, APIURL: cfg.SlackAPIURL, DefaultChannel: cfg.SlackChannel, Logger: log, HTTPClient: hc}))
	} else if a.Actions != nil && a.Actions.Slack != nil && a.Actions.Slack.Available() == nil {
		// Reuse the slack.notify client (actions.slack); its default
		// channel applies when approvals.slack_channel is not set.
		sc = slack.NewApprovalNotifier(a.Actions.Slack)
	}
	if sc != nil {
		if secret == "" {
			log.Warn("approval messages are posted to slack but no signing secret is configured: every button click will be refused")
		}
		if len(cfg.AllowedUsers) == 0 && len(cfg.AllowedGroups) == 0 {
			log.Warn("nobody is allowed to decide approvals in slack: set approvals.allowed_users or allowed_groups")
		}
	}
	db := a.DB
	svc := approval.New(approval.Config{
		Store: db, Notifier: sc, Channel: cfg.SlackChannel,
		AllowedUsers: cfg.AllowedUsers, AllowedGroups: cfg.AllowedGroups,
		DefaultExpiry: time.Duration(cfg.DefaultExpiry), DefaultApprovers: cfg.Approvers,
		Observer: a.metrics, // decisions and their wait, after each commit
		Requester: func(p *engine.Plan) string {
			who, err := p.Playbook.RequestedBy(p.Event)
			if err != nil {
				// The request still goes out; under a two-person rule it
				// needs that many approvers, none of them exempted.
				log.Warn("approval requester could not be evaluated", "playbook", p.Playbook.Name, "event", p.Event.ID, "error", err)
			}
			return who
		},
		Continue: func(ctx context.Context, seq uint64, playbook, phase string, from int, approvedBy string) error {
			if a.Engine == nil {
				return errors.New("the engine is not running")
			}
			return a.Engine.Continue(ctx, seq, playbook, phase, from, approvedBy)
		},
		Trail: func(ctx context.Context, eventID, playbook string, since time.Time) ([]audit.Record, error) {
			var out []audit.Record
			q := audit.Query{EventID: eventID, Playbook: playbook, Since: since, Limit: 1000}
			for {
				recs, next, err := db.ListAudit(ctx, q)
				if err != nil {
					return nil, err
				}
				out = append(out, recs...)
				if next == 0 {
					return out, nil
				}
				q.After = next
			}
		},
		Now: now, Logger: log,
		SweepInterval: time.Duration(cfg.SweepInterval), Retention: time.Duration(cfg.Retention),
	})
	a.approvals = &approvalsFeature{Service: svc, db: db}
	a.GoLeader(svc.Run) // expiry, and approved steps a stopped replica left
	a.closers = append(a.closers, svc.Close)
	return nil
}

var _ engine.ApprovalChecker = (*approvalsFeature)(nil)
