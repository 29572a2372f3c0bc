package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks/playtest"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web/dashboard"
	"github.com/firebreak/firebreak/web/sources"
)

// routesDashboard mounts the dashboard (web/dashboard) on the router. It is
// self-contained: the adapters below are the only things the dashboard
// sees of the app, so re-homing it means moving this file.
//
// Until one API token table exists, the dashboard signs people in with
// the tokens there are: approvals.api_tokens (viewer, approver) and
// guards.api_token (operator, shown as "operator"). With none configured,
// loopback peers use it without signing in, with the rights the API gives
// them there (read, pause, resume, reset; deciding approvals needs a
// token, as in the API).
func routesDashboard(a *App) {
	deps := dashboard.Deps{
		Auth:      newDashAuth(a),
		Audit:     a.DB,
		Timelines: dashTimelines{db: a.DB},
		Playbooks: a.Engine.Playbooks,
		Tester:    dashTester{a: a},
		Redact:    a.redactor(),
		Now:       a.opts.Now,
		Logger:    a.log.With("component", "dashboard"),
		OnAuthFailure: func(remote, msg string) {
			_ = a.DB.Audit(context.Background(), audit.Record{Kind: audit.KindAuthFailed, Source: "dashboard", Outcome: "unauthorized", Message: msg, Actor: remote})
		},
	}
	if f, ok := a.approver.(*approvalsFeature); ok {
		deps.Approvals = dashApprovals{f: f}
	}
	if g := a.Guard(); g != nil {
		deps.Guards = g
	}
	if _, err := dashboard.Mount(a.Web.Router(), deps); err != nil {
		a.log.Error("the dashboard is not served", "error", err)
	}
}

// dashAuth adapts the existing tokens to dashboard.Authenticator.
type dashAuth struct {
	tokens []dashToken
	// open: no token is configured at all.
	open bool
}

type dashToken struct {
	hash [sha256.Size]byte
	id   dashboard.Identity
}

func newDashAuth(a *App) dashAuth {
	var out dashAuth
	if f, ok := a.approver.(*approvalsFeature); ok {
		for _, t := range f.tokens {
			id := dashboard.Identity{Name: t.name, Roles: []dashboard.Role{dashboard.RoleViewer}}
			if t.roles[RoleApprover] {
				id.Roles = append(id.Roles, dashboard.RoleApprover)
			}
			out.tokens = append(out.tokens, dashToken{hash: t.hash, id: id})
		}
	}
	guardTok, err := guardToken(a.Config.Guards)
	if guardTok != "" {
		out.tokens = append(out.tokens, dashToken{hash: sha256.Sum256([]byte(guardTok)),
			id: dashboard.Identity{Name: "operator", Roles: []dashboard.Role{dashboard.RoleViewer, dashboard.RoleOperator}}})
	}
	// A token that is configured but unreadable never opens the door.
	out.open = len(out.tokens) == 0 && err == nil
	return out
}

// Authenticate implements dashboard.Authenticator in constant time.
func (d dashAuth) Authenticate(token string) (dashboard.Identity, bool) {
	if token == "" {
		return dashboard.Identity{}, false
	}
	sum := sha256.Sum256([]byte(token))
	var match *dashToken
	for i := range d.tokens {
		if subtle.ConstantTimeCompare(sum[:], d.tokens[i].hash[:]) == 1 && match == nil {
			match = &d.tokens[i]
		}
	}
	if match == nil {
		return dashboard.Identity{}, false
	}
	return match.id, true
}

// Anonymous implements dashboard.Authenticator: open to loopback peers (the
// TCP peer, not a forwarded header) when no token is configured.
func (d dashAuth) Anonymous(r *http.Request) (dashboard.Identity, bool) {
	if !d.open || !loopbackAddr(r.RemoteAddr) {
		return dashboard.Identity{}, false
	}
	return dashboard.Identity{Name: "local", Roles: []dashboard.Role{dashboard.RoleViewer, dashboard.RoleOperator}}, true
}

// dashApprovals adapts the approval gate; decisions take its one decide
// path (audited, Slack message updated, step handed to the engine).
type dashApprovals struct{ f *approvalsFeature }

func (d dashApprovals) ListApprovals(ctx context.Context, status approval.Status) ([]approval.Approval, error) {
	return approval.List(ctx, d.f.db, approval.Filter{Status: status})
}

// Decide records the decision as the token's API identity (api:NAME), so
// the two-person rule counts one token once across API and dashboard.
func (d dashApprovals) Decide(ctx context.Context, id, planHash string, dec approval.Decision, who dashboard.Identity) (approval.Approval, error) {
	return d.f.Decide(ctx, id, planHash, dec, approval.Actor{ID: "api:" + who.Name, Name: who.Name}, "dashboard")
}

// dashTimelines reads timelines with TimelineOf, plus the raw payload.
type dashTimelines struct{ db *store.DB }

func (d dashTimelines) Timeline(ctx context.Context, id string) (dashboard.Timeline, error) {
	tl, err := TimelineOf(ctx, d.db, id)
	if errors.Is(err, store.ErrNotFound) {
		return dashboard.Timeline{}, fmt.Errorf("event %s: %w", id, dashboard.ErrNotFound)
	}
	if err != nil {
		return dashboard.Timeline{}, err
	}
	out := dashboard.Timeline{Records: tl.Records, Approvals: tl.Approvals}
	if tl.Event != nil {
		ev := tl.Event.Event
		out.Event = &ev
		if _, full, err := d.db.EventByID(ctx, id); err == nil {
			out.Raw = full.Raw
		}
	}
	return out, nil
}

// dashTester is the playbook test box: a built-in decoder, then the plan
// stage of playbooks/playtest. Nothing is stored and nothing runs.
type dashTester struct{ a *App }

func (t dashTester) Sources() []string {
	var names []string
	for n := range sources.Builtin() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (t dashTester) Test(_ context.Context, source string, payload []byte) (dashboard.TestResult, error) {
	dec, ok := sources.Builtin()[strings.TrimSpace(source)]
	if !ok {
		return dashboard.TestResult{}, fmt.Errorf("source %q: %w", source, dashboard.ErrUnknownSource)
	}
	now := t.a.opts.Now().UTC()
	events, err := dec.Decode(payload, now)
	if err != nil {
		return dashboard.TestResult{}, fmt.Errorf("the payload does not decode as %s: %w", source, err)
	}
	for i := range events {
		if events[i].ReceivedAt.IsZero() {
			events[i].ReceivedAt = now
		}
		events[i].Raw = nil
	}
	return t.plan(events), nil
}

// TestEvent plans a stored event again against the loaded playbooks.
func (t dashTester) TestEvent(ctx context.Context, id string) (dashboard.TestResult, error) {
	_, ev, err := t.a.DB.EventByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return dashboard.TestResult{}, fmt.Errorf("event %s: %w", id, dashboard.ErrNotFound)
	}
	if err != nil {
		return dashboard.TestResult{}, err
	}
	ev.Raw = nil
	return t.plan([]event.Event{ev}), nil
}

func (t dashTester) plan(events []event.Event) dashboard.TestResult {
	set := t.a.Engine.Playbooks()
	if set == nil {
		return dashboard.TestResult{Events: events, Decisions: make([]playtest.Decision, len(events))}
	}
	return dashboard.TestResult{Events: events, Decisions: playtest.Evaluate(set, t.a.Registry, events)}
}
