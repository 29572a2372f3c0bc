package dashboard

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/playbooks/playtest"
)

// Role is what a signed-in person may do.
type Role string

// Roles, as in the API token table (api.tokens). An identity lists its
// role and every role below it: an operator is also an approver and a
// viewer.
const (
	// RoleViewer reads every page.
	RoleViewer Role = "viewer"
	// RoleApprover decides approvals.
	RoleApprover Role = "approver"
	// RoleOperator pauses and resumes execution and resets breakers.
	RoleOperator Role = "operator"
)

// Identity is who is signed in: the token's name (never the token) and
// its roles.
type Identity struct {
	Name  string
	Roles []Role
	// Credential is the Authenticator's fingerprint of the token the
	// identity signed in with, opaque to the dashboard and never the token
	// itself; "" for an anonymous identity. It is stored with the session
	// so that Current can tell the token the session began with from one
	// that replaced it under the same name.
	Credential string
}

// Has reports whether the identity holds role r.
func (id Identity) Has(r Role) bool { return slices.Contains(id.Roles, r) }

// Authenticator maps a token to an identity. It is the one place that
// knows the token table; package web implements it over the API's.
type Authenticator interface {
	// Authenticate returns the identity of token, or false when no token
	// matches. It must compare in constant time.
	Authenticate(token string) (Identity, bool)
	// Anonymous returns the identity of a request that carries no session
	// when the server allows that (no tokens configured and a loopback
	// peer, as the API allows), or false when a login is required.
	Anonymous(r *http.Request) (Identity, bool)
	// Current re-checks a stored session's identity against the tokens
	// configured now; the dashboard calls it on every request. It returns
	// the identity as it is now (a changed role applies at once), or false
	// when the token the session signed in with is gone or was replaced,
	// or, for an anonymous identity, when r would not be let in
	// anonymously any more.
	Current(r *http.Request, id Identity) (Identity, bool)
}

// StateStore is the transactional key/value state both store backends
// offer (the bbolt *store.DB and the clustered etcd store implement it;
// it is part of store.Backend). The dashboard keeps its sessions in its
// bucket dashboard_sessions.
type StateStore interface {
	Update(ctx context.Context, fn func(state.Tx) error) error
	View(ctx context.Context, fn func(state.Tx) error) error
}

// Approvals is the approval gate as the pages need it.
type Approvals interface {
	// ListApprovals returns approvals, newest first; status "" lists all.
	ListApprovals(ctx context.Context, status approval.Status) ([]approval.Approval, error)
	// Decide records a decision by who; it must go through the gate's one
	// decide path, so the decision is audited and the Slack message
	// updated. Refusals wrap the approval package's sentinels.
	Decide(ctx context.Context, id, planHash string, d approval.Decision, who Identity) (approval.Approval, error)
}

// Guards is the breaker and kill-switch API; *guard.Guard implements it.
type Guards interface {
	Breakers(ctx context.Context) ([]guard.BreakerStatus, error)
	// Budgets reads the global caps and the budgets of set's playbooks
	// with what each window has left.
	Budgets(ctx context.Context, set *playbooks.Set) ([]guard.BudgetStatus, error)
	ResetBreaker(ctx context.Context, id, actor string) (guard.BreakerStatus, error)
	PauseStatus(ctx context.Context) (guard.PauseStatus, error)
	Pause(ctx context.Context, actor, reason string) (guard.PauseStatus, error)
	Resume(ctx context.Context, actor string) (guard.PauseStatus, error)
}

// AuditLog reads the audit trail; *store.DB and the etcd store implement
// it.
type AuditLog interface {
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Record, uint64, error)
	// AuditHeads is ListAudit returning only each record's sequence, time
	// and kind (the last-hour counters need no more), with the same
	// filters and paging.
	AuditHeads(ctx context.Context, q audit.Query) ([]audit.Head, uint64, error)
	VerifyAudit(ctx context.Context) (int, error)
}

// Timeline is one incident's history.
type Timeline struct {
	// Event is the normalised event; nil when retention removed it.
	Event *event.Event
	// Raw is the payload as received; nil when unknown.
	Raw json.RawMessage
	// Records are every audit record of the event, in order.
	Records []audit.Record
	// Approvals are the approvals its steps waited for.
	Approvals []approval.Approval
}

// Timelines reads incident timelines.
type Timelines interface {
	// Timeline returns the history of event id, or an error wrapping
	// ErrNotFound.
	Timeline(ctx context.Context, id string) (Timeline, error)
}

// TestResult is what the test box shows: the events a payload decoded to,
// and the decisions the plan stage makes for each.
type TestResult struct {
	Events    []event.Event
	Decisions []playtest.Decision
}

// Tester evaluates a pasted payload against the loaded playbooks without
// executing or writing anything.
type Tester interface {
	// Sources lists the source names Test accepts.
	Sources() []string
	// Test decodes payload as source and plans it; an unknown source wraps
	// ErrUnknownSource, a payload that does not decode is another error
	// whose text can be shown.
	Test(ctx context.Context, source string, payload []byte) (TestResult, error)
	// TestEvent plans a stored event again, as it is now; an unknown id
	// wraps ErrNotFound.
	TestEvent(ctx context.Context, id string) (TestResult, error)
}

// Deps is everything the dashboard reads and calls. Auth, State, Audit,
// Timelines and Playbooks are required; a nil Approvals, Guards or Tester
// hides its page's actions and shows that the feature is not wired.
type Deps struct {
	Auth Authenticator
	// State keeps the sessions, so that they survive a restart and are
	// shared by every replica of a cluster: the server's store.
	State     StateStore
	Approvals Approvals
	Guards    Guards
	Audit     AuditLog
	Timelines Timelines
	// Playbooks returns the loaded set (nil before the first load).
	Playbooks func() *playbooks.Set
	Tester    Tester
	// Redact removes secrets from a record before it is rendered; the
	// store's redactor. Nil renders records as stored (already redacted on
	// write) and event data unredacted, which only tests should do.
	Redact func(audit.Record) audit.Record
	// OnAuthFailure is told of every refused login (the caller audits it);
	// it gets the peer address and a message without the token.
	OnAuthFailure func(remote, msg string)
	// SecureCookies marks cookies Secure even on plain HTTP (behind a
	// TLS-terminating proxy); they are always Secure on a TLS connection.
	SecureCookies bool
	// SessionTTL is how long a session lasts (default 12h).
	SessionTTL time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}
