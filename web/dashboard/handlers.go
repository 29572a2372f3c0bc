package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/playbooks/playtest"
	"github.com/firebreak/firebreak/web/internal/apierr"
	"github.com/firebreak/firebreak/web/internal/redact"
)

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (d *Dashboard) loginPage(c *gin.Context) {
	if _, ok := d.deps.Auth.Anonymous(c.Request); ok {
		c.Redirect(http.StatusSeeOther, "/")
		return
	}
	v := randomToken()
	d.setCookie(c, loginCookie, v, 10*time.Minute)
	c.Set(ctxSession, &session{csrf: v})
	d.render(c, http.StatusOK, "login", "Sign in", gin.H{"Next": safeNext(c.Query("next"))})
}

// login exchanges a token for a session. The form carries the login
// cookie's value as its CSRF token, so another site cannot sign a browser
// in with the attacker's token.
func (d *Dashboard) login(c *gin.Context) {
	pre, _ := c.Cookie(loginCookie)
	if !equalToken(pre, c.PostForm(csrfField)) {
		d.fail(c, http.StatusForbidden, "refused: the sign-in form has expired or carries no valid CSRF token; reload it")
		return
	}
	id, ok := d.deps.Auth.Authenticate(strings.TrimSpace(c.PostForm("token")))
	if !ok {
		if d.deps.OnAuthFailure != nil {
			d.deps.OnAuthFailure(c.RemoteIP(), "dashboard sign-in refused: unknown token")
		}
		c.Set(ctxSession, &session{csrf: pre})
		c.Set("dashboard.error", "unknown token")
		d.render(c, http.StatusUnauthorized, "login", "Sign in", gin.H{"Next": safeNext(c.PostForm("next"))})
		return
	}
	v, _, err := d.sessions.create(c.Request.Context(), id)
	if err != nil {
		d.log.Error("the session store failed", "error", err)
		d.fail(c, http.StatusServiceUnavailable, "the session store is unavailable; try again shortly")
		return
	}
	d.clearCookie(c, loginCookie)
	d.setCookie(c, sessionCookie, v, d.sessions.ttl)
	c.Redirect(http.StatusSeeOther, safeNext(c.PostForm("next")))
}

func (d *Dashboard) logout(c *gin.Context) {
	if v, err := c.Cookie(sessionCookie); err == nil {
		if err := d.sessions.drop(c.Request.Context(), v); err != nil {
			d.log.Error("the session store failed", "error", err)
			d.fail(c, http.StatusServiceUnavailable, "signing out failed: the session store is unavailable; try again")
			return
		}
	}
	d.clearCookie(c, sessionCookie)
	c.Redirect(http.StatusSeeOther, "/login")
}

// actor names a dashboard user in the audit trail.
func actorOf(c *gin.Context) string {
	s := sessionOf(c)
	if s == nil {
		return "dashboard"
	}
	return s.id.Name + " (dashboard)"
}

// overviewData is the overview page.
type overviewData struct {
	Pending  []approval.Approval
	Breakers []guard.BreakerStatus
	// Caps are the global caps; UsedUp the playbook budgets with nothing
	// left on a target.
	Caps   []guard.BudgetStatus
	UsedUp []guard.BudgetStatus
	Pause  *guard.PauseStatus
	// Hour are the last-hour counters.
	Hour      hourStats
	Incidents []incident
	Problems  []string
}

type incident struct {
	EventID  string
	Playbook string
	Time     time.Time
	Message  string
}

// overviewScanCap bounds the records one scan of the latest incidents or
// of a playbook's last match reads.
const overviewScanCap = 20000

func (d *Dashboard) overview(c *gin.Context) {
	ctx := c.Request.Context()
	var o overviewData
	if d.deps.Approvals != nil {
		list, err := d.deps.Approvals.ListApprovals(ctx, approval.StatusPending)
		if err != nil {
			o.Problems = append(o.Problems, "reading approvals failed")
		}
		for i := range list {
			d.redactApproval(&list[i])
		}
		o.Pending = list
	}
	if d.deps.Guards != nil {
		bs, err := d.deps.Guards.Breakers(ctx)
		if err != nil {
			o.Problems = append(o.Problems, "reading breakers failed")
		}
		for _, b := range d.redactBreakers(bs) {
			if b.State != guard.StateClosed {
				o.Breakers = append(o.Breakers, b)
			}
		}
		if budgets, err := d.deps.Guards.Budgets(ctx, d.deps.Playbooks()); err != nil {
			o.Problems = append(o.Problems, "reading budgets failed")
		} else {
			for _, b := range d.redactBudgets(budgets) {
				switch {
				case b.Scope == guard.BudgetScopeActions || b.Scope == guard.BudgetScopeTargets:
					o.Caps = append(o.Caps, b)
				case b.Remaining == 0:
					o.UsedUp = append(o.UsedUp, b)
				}
			}
		}
		if st, err := d.deps.Guards.PauseStatus(ctx); err == nil {
			st = redact.Func(d.deps.Redact).Pause(st)
			o.Pause = &st
		} else {
			o.Problems = append(o.Problems, "reading the kill switch failed")
		}
	}
	o.Hour = d.hourStats(ctx)
	if o.Hour.Failed {
		o.Problems = append(o.Problems, "reading the audit trail failed")
	}
	o.Incidents = d.latestIncidents(ctx, 10)
	d.render(c, http.StatusOK, "overview", "Overview", o)
}

// hourStats are the overview's last-hour counters; Counting is set while
// the counter warms up (the page shows "counting…" and polls).
type hourStats struct {
	Events, Actions, Refusals int
	Counting                  bool
	Failed                    bool
}

func (d *Dashboard) hourStats(ctx context.Context) hourStats {
	c, ok, err := d.hour.counts(ctx)
	if err != nil {
		d.log.Warn("counting the last hour's audit records failed", "error", err)
		return hourStats{Failed: true}
	}
	return hourStats{Events: c.events, Actions: c.actions, Refusals: c.refusals, Counting: !ok}
}

// overviewCounts renders the overview's counters alone: the fragment the
// page polls while they are counting.
func (d *Dashboard) overviewCounts(c *gin.Context) {
	d.render(c, http.StatusOK, "counts", "", d.hourStats(c.Request.Context()))
}

// latestIncidents returns the newest events that matched a playbook,
// newest first. It reads windows backwards from now, doubling from a
// minute to a week, so it decodes about as many records as it shows.
func (d *Dashboard) latestIncidents(ctx context.Context, n int) []incident {
	var out []incident
	seen := map[string]bool{}
	until := d.deps.Now().Add(time.Nanosecond)
	oldest := until.Add(-7 * 24 * time.Hour)
	for w := time.Minute; len(out) < n && until.After(oldest); w *= 2 {
		since := until.Add(-w)
		q := audit.Query{Kind: audit.KindMatched, Since: since, Until: until, Limit: 1000}
		var ring []incident
		for read := 0; read < overviewScanCap; {
			recs, next, err := d.deps.Audit.ListAudit(ctx, q)
			if err != nil {
				return out
			}
			read += len(recs)
			for _, r := range recs {
				ring = append(ring, incident{EventID: r.EventID, Playbook: r.Playbook, Time: r.Time, Message: d.redactString(r.Message)})
			}
			if len(ring) > 4*n {
				ring = append(ring[:0:0], ring[len(ring)-4*n:]...)
			}
			if next == 0 {
				break
			}
			q.After = next
		}
		for i := len(ring) - 1; i >= 0 && len(out) < n; i-- {
			if k := ring[i].EventID + "|" + ring[i].Playbook; !seen[k] {
				seen[k] = true
				out = append(out, ring[i])
			}
		}
		until = since
	}
	return out
}

// timelineData is the timeline page.
type timelineData struct {
	ID        string
	Event     *event.Event
	EventData map[string]any
	Raw       string
	Records   []audit.Record
	Approvals []approval.Approval
	Chain     chainStatus
	// ResolvedID and OnResolve are the alert's resolved event and the
	// records of the on_resolved steps it ran, when there is one.
	ResolvedID string
	OnResolve  []audit.Record
}

// resolvedSibling is the id of the resolved event of a firing alert: the
// sources that send both (Alertmanager, and the generic ones that put the
// status last) give them the same id but for the status. The on_resolved
// steps run on that event, so its records are where "what ran on
// resolve" is.
func resolvedSibling(id string) (string, bool) {
	base, ok := strings.CutSuffix(id, ":"+string(event.StatusFiring))
	if !ok || base == "" {
		return "", false
	}
	return base + ":" + string(event.StatusResolved), true
}

func (d *Dashboard) timeline(c *gin.Context) {
	id := strings.TrimPrefix(c.Param("id"), "/")
	if id == "" {
		d.fail(c, http.StatusBadRequest, "name an event: /events/<id>")
		return
	}
	tl, err := d.deps.Timelines.Timeline(c.Request.Context(), id)
	if errors.Is(err, ErrNotFound) {
		d.fail(c, http.StatusNotFound, "no event "+id+" in the inbox or the audit trail")
		return
	}
	if err != nil {
		d.fail(c, http.StatusInternalServerError, "reading the timeline failed")
		return
	}
	td := timelineData{ID: id, Event: tl.Event, Approvals: tl.Approvals, Chain: d.chain()}
	for _, r := range tl.Records {
		td.Records = append(td.Records, d.deps.Redact(r))
	}
	if tl.Event != nil {
		// Event data is the sender's: it goes through the redactor like
		// an audit record before it is shown.
		var m map[string]any
		b, _ := json.Marshal(tl.Event)
		_ = json.Unmarshal(b, &m)
		delete(m, "raw")
		td.EventData = d.redactMap(m)
	}
	if len(tl.Raw) > 0 {
		var v any
		if json.Unmarshal(tl.Raw, &v) == nil {
			red := d.redactMap(map[string]any{"payload": v})
			b, _ := json.MarshalIndent(red["payload"], "", "  ")
			td.Raw = string(b)
		}
	}
	for i := range td.Approvals {
		d.redactApproval(&td.Approvals[i])
	}
	if rid, ok := resolvedSibling(id); ok {
		if rtl, err := d.deps.Timelines.Timeline(c.Request.Context(), rid); err == nil {
			td.ResolvedID = rid
			for _, r := range rtl.Records {
				if phase, _ := r.Data["phase"].(string); phase == "on_resolved" || r.Kind == audit.KindReceived {
					td.OnResolve = append(td.OnResolve, d.deps.Redact(r))
				}
			}
		}
	}
	d.render(c, http.StatusOK, "timeline", "Event "+id, td)
}

// chain returns the cached verification; it is refreshed by /audit/verify
// (the badge loads it lazily), so a page never waits for a full walk.
func (d *Dashboard) chain() chainStatus {
	d.vmu.Lock()
	defer d.vmu.Unlock()
	return d.verify
}

// verifyChain walks the whole chain unless the last walk is fresh.
func (d *Dashboard) verifyChain(ctx context.Context, force bool) chainStatus {
	d.vmu.Lock()
	defer d.vmu.Unlock()
	now := d.deps.Now()
	if !force && d.verify.Checked && now.Sub(d.verify.At) < verifyTTL {
		return d.verify
	}
	n, err := d.deps.Audit.VerifyAudit(ctx)
	st := chainStatus{Checked: true, OK: err == nil, Records: n, At: now}
	if err != nil {
		st.Error = err.Error()
		if !errors.Is(err, audit.ErrChainBroken) {
			st.Error = "verification could not run: " + err.Error()
		}
	}
	d.verify = st
	return st
}

func (d *Dashboard) auditVerify(c *gin.Context) {
	st := d.verifyChain(c.Request.Context(), c.Query("badge") == "")
	if c.Query("badge") != "" {
		d.render(c, http.StatusOK, "badge", "", st)
		return
	}
	d.render(c, http.StatusOK, "verify", "Audit verification", st)
}

func (d *Dashboard) approvals(c *gin.Context) {
	if d.deps.Approvals == nil {
		d.render(c, http.StatusOK, "approvals", "Approvals", gin.H{"Off": true})
		return
	}
	status, err := approval.ParseStatusFilter(c.DefaultQuery("status", string(approval.StatusPending)))
	if err != nil {
		d.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	list, err := d.deps.Approvals.ListApprovals(c.Request.Context(), status)
	if err != nil {
		d.fail(c, http.StatusInternalServerError, "reading approvals failed")
		return
	}
	if len(list) > 200 {
		list = list[:200]
	}
	for i := range list {
		d.redactApproval(&list[i])
		list[i].Event = nil
	}
	st := string(status)
	if st == "" {
		st = "all"
	}
	d.render(c, http.StatusOK, "approvals", "Approvals", gin.H{"List": list, "Status": st})
}

func (d *Dashboard) decide(c *gin.Context) {
	if d.deps.Approvals == nil {
		d.fail(c, http.StatusNotFound, "approvals are not wired")
		return
	}
	var dec approval.Decision
	switch c.Param("decision") {
	case "approve":
		dec = approval.Approve
	case "deny":
		dec = approval.Deny
	default:
		d.fail(c, http.StatusNotFound, "no such decision: use approve or deny")
		return
	}
	hash := c.PostForm("plan_hash")
	if hash == "" {
		d.fail(c, http.StatusBadRequest, "plan_hash is required: a decision binds to the exact plan shown")
		return
	}
	id := c.Param("id")
	_, err := d.deps.Approvals.Decide(c.Request.Context(), id, hash, dec, sessionOf(c).id)
	if err != nil {
		code := apierr.Decision(err)
		msg := "the decision failed"
		if code != http.StatusInternalServerError {
			msg = "refused: " + approval.RefusalText(err)
		}
		d.fail(c, code, msg)
		return
	}
	verb := "approved"
	if dec == approval.Deny {
		verb = "denied"
	}
	back(c, "/approvals", "approval "+id+" "+verb)
}

func (d *Dashboard) breakers(c *gin.Context) {
	if d.deps.Guards == nil {
		d.render(c, http.StatusOK, "breakers", "Breakers", breakersData{Off: true})
		return
	}
	ctx := c.Request.Context()
	bs, err := d.deps.Guards.Breakers(ctx)
	if err != nil {
		d.fail(c, http.StatusInternalServerError, "reading breakers failed")
		return
	}
	set := d.deps.Playbooks()
	budgets, err := d.deps.Guards.Budgets(ctx, set)
	if err != nil {
		d.fail(c, http.StatusInternalServerError, "reading budgets failed")
		return
	}
	d.render(c, http.StatusOK, "breakers", "Breakers", breakersPage(d.redactBreakers(bs), d.redactBudgets(budgets), set, d.deps.Now()))
}

// breakersData is the /breakers page: one row per playbook × target that
// has a breaker or a budget in use, the global caps, and the budgets of
// playbooks with no run in their windows.
type breakersData struct {
	// Off says the guards are not wired.
	Off    bool
	Rows   []breakerRow
	Global []guard.BudgetStatus
	Idle   []guard.BudgetStatus
	// Settings are the breaker settings of the loaded playbooks.
	Settings []breakerSetting
}

// breakerRow joins the breaker and the budget of one playbook × target.
type breakerRow struct {
	// ID is the breaker id of playbook × target, also when the row has
	// only a budget (it names the row in the page).
	ID       string
	Playbook string
	Target   string
	Breaker  *guard.BreakerStatus
	// Failures counts the breaker's failures inside its window (all the
	// stored ones when the playbook is no longer loaded), Window is that
	// window.
	Failures int
	Window   time.Duration
	Budget   *guard.BudgetStatus
}

type breakerSetting struct {
	Playbook string
	Breaker  *playbooks.Breaker
}

// redactApproval passes what an approval shows through the redactor, as
// the API answers it (package web/internal/redact).
func (d *Dashboard) redactApproval(a *approval.Approval) {
	*a = redact.Func(d.deps.Redact).Approval(*a)
}

// redactBreakers passes the targets and reasons of bs through the
// redactor; the breaker id stays as it is, since it names the breaker.
func (d *Dashboard) redactBreakers(bs []guard.BreakerStatus) []guard.BreakerStatus {
	return redact.Func(d.deps.Redact).Breakers(bs)
}

// redactBudgets passes the targets of bs through the redactor.
func (d *Dashboard) redactBudgets(bs []guard.BudgetStatus) []guard.BudgetStatus {
	return redact.Func(d.deps.Redact).Budgets(bs)
}

func breakersPage(bs []guard.BreakerStatus, budgets []guard.BudgetStatus, set *playbooks.Set, now time.Time) breakersData {
	var out breakersData
	index := map[string]int{}
	for i := range bs {
		b := &bs[i]
		row := breakerRow{ID: b.ID, Playbook: b.Playbook, Target: b.Target, Breaker: b, Failures: len(b.FailedAt)}
		if set != nil {
			if p, ok := set.Get(b.Playbook); ok && p.Breaker != nil {
				row.Window, row.Failures = p.Breaker.Window, 0
				for _, f := range b.FailedAt {
					if now.Sub(f) < p.Breaker.Window {
						row.Failures++
					}
				}
			}
		}
		index[b.Playbook+"\x00"+b.Target] = len(out.Rows)
		out.Rows = append(out.Rows, row)
	}
	for i := range budgets {
		st := &budgets[i]
		switch st.Scope {
		case guard.BudgetScopeActions, guard.BudgetScopeTargets:
			out.Global = append(out.Global, *st)
		case guard.BudgetScopePlaybook:
			out.Idle = append(out.Idle, *st)
		default:
			if j, ok := index[st.Playbook+"\x00"+st.Target]; ok {
				out.Rows[j].Budget = st
				continue
			}
			out.Rows = append(out.Rows, breakerRow{ID: guard.BreakerID(st.Playbook, st.Target), Playbook: st.Playbook, Target: st.Target, Budget: st})
		}
	}
	if set != nil {
		for _, p := range set.Playbooks {
			if p.Breaker != nil {
				out.Settings = append(out.Settings, breakerSetting{Playbook: p.Name, Breaker: p.Breaker})
			}
		}
	}
	return out
}

func (d *Dashboard) resetBreaker(c *gin.Context) {
	if d.deps.Guards == nil {
		d.fail(c, http.StatusNotFound, "breakers are not wired")
		return
	}
	_, err := d.deps.Guards.ResetBreaker(c.Request.Context(), c.Param("id"), actorOf(c))
	switch {
	case errors.Is(err, guard.ErrUnknownBreaker):
		d.fail(c, http.StatusNotFound, "no breaker with id "+c.Param("id"))
	case err != nil:
		d.fail(c, http.StatusInternalServerError, "resetting the breaker failed")
	default:
		back(c, "/breakers", "breaker "+c.Param("id")+" reset")
	}
}

// pause asks for a confirmation first: the form posts confirm=yes only
// from the confirmation page.
func (d *Dashboard) pause(c *gin.Context) {
	if d.deps.Guards == nil {
		d.fail(c, http.StatusNotFound, "the kill switch is not wired")
		return
	}
	reason := strings.TrimSpace(c.PostForm("reason"))
	if len(reason) > 500 {
		d.fail(c, http.StatusBadRequest, "reason: at most 500 characters")
		return
	}
	if c.PostForm("confirm") != "yes" {
		d.render(c, http.StatusOK, "confirm", "Pause execution?", gin.H{"Action": "/pause", "Verb": "Pause all execution", "Reason": reason,
			"Text": "Every step of every playbook will be refused (audited as paused) until someone resumes. Events are still accepted."})
		return
	}
	if _, err := d.deps.Guards.Pause(c.Request.Context(), actorOf(c), reason); err != nil {
		d.fail(c, http.StatusInternalServerError, "pausing failed")
		return
	}
	back(c, "/", "execution paused")
}

func (d *Dashboard) resume(c *gin.Context) {
	if d.deps.Guards == nil {
		d.fail(c, http.StatusNotFound, "the kill switch is not wired")
		return
	}
	if c.PostForm("confirm") != "yes" {
		d.render(c, http.StatusOK, "confirm", "Resume execution?", gin.H{"Action": "/resume", "Verb": "Resume execution",
			"Text": "Playbooks will act again on the events that arrive from now on."})
		return
	}
	_, err := d.deps.Guards.Resume(c.Request.Context(), actorOf(c))
	switch {
	case errors.Is(err, guard.ErrPausedByConfig):
		d.fail(c, http.StatusConflict, "execution is paused by the configuration file (guards.paused); edit it and restart")
	case err != nil:
		d.fail(c, http.StatusInternalServerError, "resuming failed")
	default:
		back(c, "/", "execution resumed")
	}
}

type playbookRow struct {
	P           *playbooks.Playbook
	Matches     int
	Capped      bool
	LastMatched time.Time
}

type reloadState struct {
	Failed  bool
	Message string
	Errors  []string
	At      time.Time
}

// playbooksData is the playbooks page, with the test box's result.
type playbooksData struct {
	Rows    []playbookRow
	Reload  *reloadState
	Sources []string
	Recent  []incident
	EventID string
	Source  string
	Payload string
	Result  *TestResult
	Params  [][]map[string]any
	TestErr string
}

func (d *Dashboard) playbooksData(ctx context.Context) playbooksData {
	var pd playbooksData
	since := d.deps.Now().Add(-24 * time.Hour)
	if set := d.deps.Playbooks(); set != nil {
		for _, p := range set.Playbooks {
			row := playbookRow{P: p}
			q := audit.Query{Playbook: p.Name, Kind: audit.KindMatched, Since: since, Limit: 1000}
			for {
				recs, next, err := d.deps.Audit.ListAudit(ctx, q)
				if err != nil {
					break
				}
				row.Matches += len(recs)
				if len(recs) > 0 {
					row.LastMatched = recs[len(recs)-1].Time
				}
				if next == 0 || row.Matches >= overviewScanCap {
					row.Capped = next != 0
					break
				}
				q.After = next
			}
			pd.Rows = append(pd.Rows, row)
		}
	}
	pd.Reload = d.lastReload(ctx)
	if d.deps.Tester != nil {
		pd.Sources = d.deps.Tester.Sources()
	}
	pd.Source = "alertmanager"
	pd.Recent = d.latestIncidents(ctx, 10)
	return pd
}

// lastReload finds the newest playbooks.reload record of the last week.
func (d *Dashboard) lastReload(ctx context.Context) *reloadState {
	q := audit.Query{Kind: audit.KindReload, Since: d.deps.Now().Add(-7 * 24 * time.Hour), Limit: 1000}
	var last *audit.Record
	for {
		recs, next, err := d.deps.Audit.ListAudit(ctx, q)
		if err != nil {
			return nil
		}
		if len(recs) > 0 {
			r := recs[len(recs)-1]
			last = &r
		}
		if next == 0 {
			break
		}
		q.After = next
	}
	if last == nil {
		return nil
	}
	r := d.deps.Redact(*last)
	st := &reloadState{Failed: r.Outcome != "ok", Message: r.Message, At: r.Time}
	if errs, ok := r.Data["errors"].([]any); ok {
		for _, e := range errs {
			if s, ok := e.(string); ok {
				st.Errors = append(st.Errors, s)
			}
		}
	}
	return st
}

func (d *Dashboard) playbooksPage(c *gin.Context) {
	d.render(c, http.StatusOK, "playbooks", "Playbooks", d.playbooksData(c.Request.Context()))
}

// maxTestPayload bounds a pasted payload.
const maxTestPayload = 1 << 20

// testPlaybooks is the test box: decode, match and plan; nothing runs and
// nothing is written.
func (d *Dashboard) testPlaybooks(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxTestPayload+64<<10)
	pd := d.playbooksData(c.Request.Context())
	pd.Source, pd.Payload, pd.EventID = c.PostForm("source"), c.PostForm("payload"), strings.TrimSpace(c.PostForm("event_id"))
	code := http.StatusOK
	var res TestResult
	var err error
	switch {
	case d.deps.Tester == nil:
		pd.TestErr, code = "the test box is not wired", http.StatusNotFound
	case pd.EventID != "":
		if res, err = d.deps.Tester.TestEvent(c.Request.Context(), pd.EventID); errors.Is(err, ErrNotFound) {
			pd.TestErr, code = "event_id: no stored event "+pd.EventID, http.StatusNotFound
			break
		}
		if err != nil {
			pd.TestErr, code = "planning the stored event failed", http.StatusInternalServerError
			break
		}
		pd.Result = d.redactResult(res)
	case strings.TrimSpace(pd.Payload) == "":
		pd.TestErr, code = "payload: paste a webhook body", http.StatusBadRequest
	case len(pd.Payload) > maxTestPayload:
		pd.TestErr, code = "payload: larger than 1 MiB", http.StatusRequestEntityTooLarge
	default:
		res, err = d.deps.Tester.Test(c.Request.Context(), pd.Source, []byte(pd.Payload))
		if err != nil {
			pd.TestErr, code = d.redactString(err.Error()), http.StatusBadRequest
			if errors.Is(err, ErrUnknownSource) {
				pd.TestErr = "source: " + strconv.Quote(pd.Source) + " is not a known source"
			}
			break
		}
		pd.Result = d.redactResult(res)
	}
	d.render(c, code, "playbooks", "Playbooks", pd)
}

// redactResult removes secrets from what the test box shows: rendered
// parameters, targets, dedupe keys and step errors can carry what the
// event carried, and are redacted as the audit trail would.
func (d *Dashboard) redactResult(res TestResult) *TestResult {
	red := func(s *string) *string {
		if s == nil {
			return nil
		}
		v := d.redactString(*s)
		return &v
	}
	for i := range res.Decisions {
		for _, list := range [][]playtest.PlaybookDecision{res.Decisions[i].Matched, res.Decisions[i].OnResolved} {
			for j := range list {
				m := &list[j]
				m.DedupeKey = red(m.DedupeKey)
				if m.Steps == nil {
					continue
				}
				for k := range *m.Steps {
					st := &(*m.Steps)[k]
					st.Params = d.redactMap(st.Params)
					st.Target = red(st.Target)
					st.Error = d.redactString(st.Error)
				}
			}
		}
	}
	return &res
}

// auditQuery reads the CLI's filters from the query string.
func (d *Dashboard) auditQuery(c *gin.Context) (audit.Query, string, error) {
	q := audit.Query{EventID: c.Query("event_id"), Playbook: c.Query("playbook"), Action: c.Query("action"),
		Kind: audit.Kind(c.Query("kind")), Outcome: c.Query("outcome"), Limit: 50}
	if q.Outcome == "" {
		q.Outcome = c.Query("reason")
	}
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return q, "cursor", errors.New("cursor must be a record sequence number")
		}
		q.After = n
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return q, "limit", errors.New("limit must be between 1 and 1000")
		}
		q.Limit = n
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		v := c.Query(f.name)
		if v == "" {
			continue
		}
		if dur, err := time.ParseDuration(v); err == nil {
			*f.dst = d.deps.Now().Add(-dur)
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return q, f.name, errors.New(f.name + " must be RFC 3339 or a duration ago such as 24h")
		}
		*f.dst = t
	}
	return q, "", nil
}

func (d *Dashboard) auditPage(c *gin.Context) {
	q, _, err := d.auditQuery(c)
	if err != nil {
		d.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	recs, next, err := d.deps.Audit.ListAudit(c.Request.Context(), q)
	if err != nil {
		d.fail(c, http.StatusInternalServerError, "reading the audit trail failed")
		return
	}
	for i := range recs {
		recs[i] = d.deps.Redact(recs[i])
	}
	vals := c.Request.URL.Query()
	vals.Del("cursor")
	nextURL := ""
	if next != 0 {
		vals.Set("cursor", strconv.FormatUint(next, 10))
		nextURL = "/audit?" + vals.Encode()
		vals.Del("cursor")
	}
	d.render(c, http.StatusOK, "audit", "Audit trail", gin.H{
		"Records": recs, "Next": nextURL, "Export": "/audit/export?" + vals.Encode(), "Q": c.Request.URL.Query(),
		"First": c.Query("cursor") == "", "FirstURL": "/audit?" + vals.Encode(),
	})
}

// auditExport streams every matching record as JSON lines.
func (d *Dashboard) auditExport(c *gin.Context) {
	q, _, err := d.auditQuery(c)
	if err != nil {
		d.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	q.Limit = 1000
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Content-Disposition", `attachment; filename="firebreak-audit.jsonl"`)
	c.Status(http.StatusOK)
	enc := json.NewEncoder(c.Writer)
	for {
		recs, next, err := d.deps.Audit.ListAudit(c.Request.Context(), q)
		if err != nil {
			d.log.Error("audit export failed midway", "error", err)
			return
		}
		for _, r := range recs {
			if err := enc.Encode(d.deps.Redact(r)); err != nil {
				return
			}
		}
		if next == 0 {
			return
		}
		q.After = next
	}
}
