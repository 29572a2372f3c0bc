package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/slack/slackfake"
	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
)

// client is a browser-like HTTP client: a cookie jar, no redirects
// followed, HTML accepted.
type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, form url.Values, accept string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", accept)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", page)
	}
	return m[1]
}

// signIn signs c in with token through the login form.
func (c *client) signIn(token string) {
	c.t.Helper()
	_, page := c.do("GET", "/login", nil, "text/html")
	resp, body := c.do("POST", "/login", url.Values{"csrf": {csrfOf(c.t, page)}, "token": {token}, "next": {"/"}}, "text/html")
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("sign in: %d %s", resp.StatusCode, body)
	}
}

func TestLoginRefusalsAndCookies(t *testing.T) {
	e := start(t, approvalPlaybook)
	c := newClient(t, e.a.URL())

	resp, _ := c.do("GET", "/approvals", nil, "text/html")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fapprovals" {
		t.Fatalf("a page without a session: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := c.do("POST", "/pause", url.Values{"confirm": {"yes"}}, "application/json")
	var jerr struct{ Error string }
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal([]byte(body), &jerr) != nil || jerr.Error == "" {
		t.Fatalf("a script's POST without a session: %d %s", resp.StatusCode, body)
	}

	_, page := c.do("GET", "/login", nil, "text/html")
	csrf := csrfOf(t, page)
	resp, _ = c.do("POST", "/login", url.Values{"token": {approverToken}}, "text/html")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without the form's csrf token: %d", resp.StatusCode)
	}
	const wrong = "wrong-token-0123456789abcdef"
	resp, body = c.do("POST", "/login", url.Values{"csrf": {csrf}, "token": {wrong}}, "text/html")
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, wrong) {
		t.Fatalf("unknown token: %d (page echoes the token: %v)", resp.StatusCode, strings.Contains(body, wrong))
	}
	recs := e.records(t, audit.Query{Kind: audit.KindAuthFailed})
	found := false
	for _, r := range recs {
		if r.Source == "dashboard" {
			found = true
			if strings.Contains(r.Message, wrong) {
				t.Fatalf("the audit record holds the token: %+v", r)
			}
		}
	}
	if !found {
		t.Fatalf("refused sign-in not audited: %+v", recs)
	}

	resp, _ = c.do("POST", "/login", url.Values{"csrf": {csrf}, "token": {approverToken}, "next": {"//evil.example/x"}}, "text/html")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign-in with an off-site next: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "firebreak_session" {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure on plain HTTP", sess)
	}
	if strings.Contains(sess.Value, approverToken) {
		t.Fatal("the cookie carries the token")
	}
	resp, body = c.do("GET", "/approvals", nil, "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice") {
		t.Fatalf("signed in: %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	resp, _ = c.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, body)}}, "text/html")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	if resp, _ = c.do("GET", "/approvals", nil, "text/html"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out the session still works: %d", resp.StatusCode)
	}
}

// With no token configured the dashboard follows the API's rule: a
// loopback peer of a loopback listener reads without signing in, and
// nobody pauses, resumes, resets or decides (loopback included), since
// there is no operator token to sign in with.
func TestOpenModeLoopbackReadsOnly(t *testing.T) {
	cfg := apptest.Config(t, "")
	a := apptest.Start(t, cfg, app.Options{})
	c := newClient(t, a.URL())
	resp, body := c.do("GET", "/", nil, "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "local") || !strings.Contains(body, `id="running"`) {
		t.Fatalf("loopback peer in open mode: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, `id="pause"`) {
		t.Fatal("open mode offers the loopback peer the kill switch")
	}
	// A forged form post from the loopback session is refused by role.
	resp, body = c.do("POST", "/pause", url.Values{"csrf": {csrfOf(t, body)}, "reason": {"x"}, "confirm": {"yes"}}, "text/html")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "operator role") {
		t.Fatalf("loopback POST /pause in open mode: %d\n%s", resp.StatusCode, body)
	}
	if st, _ := a.Guard().PauseStatus(context.Background()); st.Paused {
		t.Fatal("a loopback peer paused execution without a token")
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "192.0.2.7:4000"
	w := httptest.NewRecorder()
	a.Web.ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("remote peer in open mode: %d", w.Code)
	}
	// A remote peer cannot sign in either: there is no token to match.
	req = httptest.NewRequest("POST", "/pause", strings.NewReader("confirm=yes"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.7:4000"
	w = httptest.NewRecorder()
	a.Web.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("remote POST in open mode: %d", w.Code)
	}
	if st, _ := a.Guard().PauseStatus(context.Background()); st.Paused {
		t.Fatal("a remote peer paused execution")
	}
}

// Secrets an alert carries are redacted in the timeline, normalised and
// raw alike.
func TestTimelineRedactsSecrets(t *testing.T) {
	e := start(t, approvalPlaybook)
	const secretLabel = "s3cr3t-label-value-42"
	const bearer = "abcdefghijklmnopqrstuvwx"
	body := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels:      map[string]string{"alertname": "Other", "api_token": secretLabel},
		Annotations: map[string]string{"description": "call with Authorization: Bearer " + bearer},
		StartsAt:    time.Now().UTC(), Fingerprint: "5ec12e70",
	})
	if code, b := apptest.Post(t, e.a.URL()+"/hooks/alertmanager", body); code != 202 {
		t.Fatalf("POST: %d %s", code, b)
	}
	var id string
	apptest.WaitFor(t, 10*time.Second, "the event in the trail", func() bool {
		recs := e.records(t, audit.Query{Kind: audit.KindUnmatched})
		if len(recs) == 1 {
			id = recs[0].EventID
		}
		return id != ""
	})
	c := newClient(t, e.a.URL())
	c.signIn(viewerToken)
	resp, page := c.do("GET", "/events/"+id, nil, "text/html")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("timeline: %d", resp.StatusCode)
	}
	if !strings.Contains(page, "As received") || !strings.Contains(page, audit.Redacted) {
		t.Fatal("the timeline shows neither the raw payload nor a redaction")
	}
	for _, s := range []string{secretLabel, bearer} {
		if strings.Contains(page, s) {
			t.Errorf("the timeline renders the secret %q", s)
		}
	}
	if resp, _ := c.do("GET", "/events/no-such-event", nil, "text/html"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown event: %d", resp.StatusCode)
	}
}

// The export holds every matching record as one JSON line each; verify
// walks the chain.
func TestAuditExportAndVerify(t *testing.T) {
	e := start(t, approvalPlaybook)
	e.fire(t, "e0e0e0e0")
	e.pending(t)
	c := newClient(t, e.a.URL())
	c.signIn(viewerToken)
	want := e.records(t, audit.Query{})
	resp, body := c.do("GET", "/audit/export", nil, "*/*")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
	}
	var got []audit.Record
	sc := bufio.NewScanner(bytes.NewReader([]byte(body)))
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		got = append(got, r)
	}
	if len(got) != len(want) || len(got) == 0 || got[len(got)-1].Seq != want[len(want)-1].Seq {
		t.Fatalf("export has %d records, the trail %d", len(got), len(want))
	}
	resp, body = c.do("GET", "/audit/export?kind=approval", nil, "*/*")
	if n := strings.Count(body, "\n"); resp.StatusCode != http.StatusOK || n != len(e.records(t, audit.Query{Kind: audit.KindApproval})) {
		t.Fatalf("filtered export: %d, %d lines", resp.StatusCode, n)
	}
	if resp, _ = c.do("GET", "/audit?limit=0", nil, "text/html"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad limit: %d", resp.StatusCode)
	}
	resp, body = c.do("GET", "/audit?limit=2", nil, "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="next"`) {
		t.Fatalf("first page of 2 has no next link: %d", resp.StatusCode)
	}
	_, body = c.do("GET", "/audit/verify", nil, "text/html")
	if !strings.Contains(body, "audit chain verified") {
		t.Fatalf("verify page:\n%s", body)
	}
}

// A decision made in the dashboard updates the approval's Slack message,
// as one made in Slack does: both take the approval gate's decide path.
func TestDecisionUpdatesSlack(t *testing.T) {
	fake := slackfake.New(t)
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(approvalPlaybook, sink.URL))
	cfg.Approvals = app.ApprovalsConfig{
		SlackChannel: "#incident-approvals", SigningSecret: "8f742231b10e8888abcd99yyyzzz85a5",
		BotToken: slackfake.Token, SlackAPIURL: fake.APIURL(), AllowedUsers: []string{"U04ABCD1EFG"},
		SweepInterval: app.Duration(50 * time.Millisecond),
	}
	cfg.API.Tokens = []app.APIToken{{Name: "alice", Token: approverToken, Role: "approver"}}
	e := &env{a: apptest.Start(t, cfg, app.Options{}), sink: sink}
	e.fire(t, "51ac4001")
	ap := e.pending(t)
	fake.WaitCalls(t, "chat.postMessage", 1, 10*time.Second)

	c := newClient(t, e.a.URL())
	c.signIn(approverToken)
	_, page := c.do("GET", "/approvals", nil, "text/html")
	resp, body := c.do("POST", "/approvals/"+ap.ID+"/approve", url.Values{"csrf": {csrfOf(t, page)}, "plan_hash": {ap.PlanHash}}, "text/html")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", resp.StatusCode, body)
	}
	updates := fake.WaitCalls(t, "chat.update", 1, 10*time.Second)
	if txt := updates[len(updates)-1].Text(); !strings.Contains(txt, "api:alice") && !strings.Contains(txt, "alice") {
		t.Fatalf("the Slack message does not name the decider: %q", txt)
	}
	apptest.WaitFor(t, 10*time.Second, "the step to run", func() bool { return len(sink.Requests()) == 1 })
	// A second decision on the decided approval is a conflict, shown as such.
	resp, body = c.do("POST", "/approvals/"+ap.ID+"/deny", url.Values{"csrf": {csrfOf(t, page)}, "plan_hash": {ap.PlanHash}}, "text/html")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already decided") {
		t.Fatalf("second decision: %d", resp.StatusCode)
	}
}

// The test box plans a recent stored event again, writing nothing.
func TestTestBoxRecentEvent(t *testing.T) {
	e := start(t, approvalPlaybook)
	e.fire(t, "4ecen701")
	ap := e.pending(t)
	c := newClient(t, e.a.URL())
	c.signIn(viewerToken)
	_, page := c.do("GET", "/playbooks", nil, "text/html")
	if !strings.Contains(page, `<option value="`+ap.EventID+`"`) {
		t.Fatalf("the recent event %s is not offered", ap.EventID)
	}
	before := counts(t, e)
	resp, body := c.do("POST", "/playbooks/test", url.Values{"csrf": {csrfOf(t, page)}, "event_id": {ap.EventID}}, "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "matches <b>restart-cart-with-approval</b>") || !strings.Contains(body, "would wait for approval") {
		t.Fatalf("test box on a stored event: %d\n%s", resp.StatusCode, body)
	}
	if after := counts(t, e); after != before {
		t.Fatalf("the test box wrote: %v before, %v after", before, after)
	}
	resp, _ = c.do("POST", "/playbooks/test", url.Values{"csrf": {csrfOf(t, page)}, "event_id": {"nope"}}, "text/html")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown stored event: %d", resp.StatusCode)
	}
	resp, body = c.do("POST", "/playbooks/test", url.Values{"csrf": {csrfOf(t, page)}, "source": {"alertmanager"}, "payload": {"{not json"}}, "text/html")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="test-error"`) {
		t.Fatalf("undecodable payload: %d", resp.StatusCode)
	}
}

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// /breakers (and GET /api/v1/budgets) show the budget left per window, the
// global cap and the breaker's failures inside its window, as the clock
// moves: a failure older than the breaker window stops counting although
// the guard still stores it, and a run leaves the 1h budget after an hour.
func TestBreakersPageBudgets(t *testing.T) {
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	sink := apptest.NewSink(t)
	sink.Status = 500
	cfg := apptest.Config(t, fmt.Sprintf(budgetedPlaybook, sink.URL))
	cfg.API.Tokens = apiTokens()
	cfg.Guards.MaxActions = "10/5m"
	e := &env{a: apptest.Start(t, cfg, app.Options{Now: clk.Now}), sink: sink}
	e.fire(t, "b0d9e701")
	apptest.WaitFor(t, 10*time.Second, "the run to fail", func() bool {
		return len(e.records(t, audit.Query{Kind: audit.KindStepFailed})) == 1
	})
	bs, err := e.a.Guard().Breakers(context.Background())
	if err != nil || len(bs) != 1 || bs[0].State != guard.StateClosed || len(bs[0].FailedAt) != 1 {
		t.Fatalf("breakers after one failure: %+v %v", bs, err)
	}
	id := bs[0].ID
	c := newClient(t, e.a.URL())
	c.signIn(viewerToken)
	row := func() string {
		t.Helper()
		resp, page := c.do("GET", "/breakers", nil, "text/html")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/breakers: %d\n%s", resp.StatusCode, page)
		}
		if !strings.Contains(page, `hx-get="/breakers" hx-trigger="every 5s"`) {
			t.Fatal("/breakers does not refresh itself")
		}
		if strings.Contains(page, "<button id=\"reset-") {
			t.Fatal("a viewer is offered a reset button")
		}
		m := regexp.MustCompile(`(?s)<tr id="breaker-` + id + `">(.*?)</tr>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no row for breaker %s:\n%s", id, page)
		}
		caps := regexp.MustCompile(`(?s)<tr id="cap-max_actions">(.*?)</tr>`).FindStringSubmatch(page)
		if caps == nil {
			t.Fatalf("no max_actions cap:\n%s", page)
		}
		return regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1]+" | "+caps[1], " ")
	}
	expect := func(when, got string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(strings.Join(strings.Fields(got), " "), w) {
				t.Errorf("%s: the page lacks %q:\n%s", when, w, got)
			}
		}
	}
	t0 := clk.Now()
	slot := func(d time.Duration) string { return t0.Add(d).UTC().Format("2006-01-02 15:04:05Z") }
	got := row()
	expect("after one failed run", got, "closed", "1 in 30m0s", "2 of 3 left", "(3/1h, 1 used; next slot frees "+slot(time.Hour)+")", "4 of 5 left", "9 of 10 left (10/5m")

	clk.Advance(31 * time.Minute)
	got = row()
	expect("31 minutes later", got, "closed", "0 in 30m0s", "2 of 3 left", "10 of 10 left (10/5m, 0 used)")
	if bs, _ := e.a.Guard().Breakers(context.Background()); len(bs[0].FailedAt) != 1 {
		t.Fatalf("the guard no longer stores the failure (the test would prove nothing): %+v", bs[0])
	}

	clk.Advance(29 * time.Minute)
	got = row()
	expect("an hour later", got, "3 of 3 left (3/1h, 0 used)", "4 of 5 left (5/24h, 1 used; next slot frees")

	// The API gives the same numbers.
	req, _ := http.NewRequest("GET", e.a.URL()+"/api/v1/budgets", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Budgets []guard.BudgetStatus }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/budgets: %d %v", resp.StatusCode, err)
	}
	if len(body.Budgets) != 2 || body.Budgets[0].Scope != guard.BudgetScopeActions || body.Budgets[1].Playbook != "notify-cart" {
		t.Fatalf("budgets: %+v", body.Budgets)
	}
	w := body.Budgets[1].Windows
	if len(w) != 2 || w[0].Used != 0 || w[0].Remaining != 3 || w[1].Used != 1 || w[1].Remaining != 4 || body.Budgets[1].Remaining != 3 ||
		w[1].NextFree == nil || !w[1].NextFree.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("notify-cart windows: %+v", body.Budgets[1])
	}
}

// Behind TLS the session cookie is Secure as well as HttpOnly and
// SameSite=Strict.
func TestSessionCookieSecureOnTLS(t *testing.T) {
	e := start(t, approvalPlaybook)
	srv := httptest.NewTLSServer(e.a.Web)
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	tc := srv.Client()
	tc.Jar, tc.CheckRedirect, tc.Timeout = c.c.Jar, c.c.CheckRedirect, c.c.Timeout
	c.c = tc
	_, page := c.do("GET", "/login", nil, "text/html")
	resp, body := c.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page)}, "token": {viewerToken}}, "text/html")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in over TLS: %d %s", resp.StatusCode, body)
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "firebreak_session" {
			sess = ck
		}
	}
	if sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie over TLS %+v: want Secure, HttpOnly, SameSite=Strict", sess)
	}
	if resp, _ := c.do("GET", "/breakers", nil, "text/html"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a page with the TLS session: %d", resp.StatusCode)
	}
}

// Every state-changing dashboard route refuses a POST without the
// session's CSRF token (or with another session's), and checks its role on
// the server: the routes are read from the real router, so a new POST
// route must be classified here.
func TestEveryPostNeedsCSRFAndRole(t *testing.T) {
	e := start(t, approvalPlaybook)
	need := map[string]string{ // normalised path → role it needs
		"/approvals/{}/{}":   "approver",
		"/breakers/{}/reset": "operator",
		"/pause":             "operator",
		"/resume":            "operator",
		"/playbooks/test":    "viewer",
		"/logout":            "viewer",
		"/login":             "", // its own CSRF: the login cookie's value (TestLoginRefusalsAndCookies)
	}
	param := regexp.MustCompile(`:[^/]+|\*[^/]+`)
	var routes []string
	for _, r := range e.a.Web.Routes() {
		if r.Method != http.MethodPost || strings.HasPrefix(r.Path, "/api/") || strings.HasPrefix(r.Path, "/hooks/") || strings.HasPrefix(r.Path, "/slack/") {
			continue
		}
		p := param.ReplaceAllString(r.Path, "{}")
		if _, ok := need[p]; !ok {
			t.Errorf("POST %s is not classified by this test", r.Path)
		}
		routes = append(routes, p)
	}
	if len(routes) != len(need) {
		t.Fatalf("dashboard POST routes %v, want %d", routes, len(need))
	}
	concrete := func(p string) string {
		return strings.NewReplacer("/approvals/{}/{}", "/approvals/x/approve", "/breakers/{}/reset", "/breakers/x/reset").Replace(p)
	}
	op, other, viewer := newClient(t, e.a.URL()), newClient(t, e.a.URL()), newClient(t, e.a.URL())
	op.signIn(operatorToken)
	other.signIn(operatorToken)
	viewer.signIn(viewerToken)
	_, page := other.do("GET", "/", nil, "text/html")
	otherCSRF := csrfOf(t, page)
	_, page = viewer.do("GET", "/", nil, "text/html")
	viewerCSRF := csrfOf(t, page)
	for _, p := range routes {
		if p == "/login" {
			continue
		}
		path := concrete(p)
		for name, form := range map[string]url.Values{
			"no token":              {"confirm": {"yes"}, "reason": {"x"}},
			"another session's one": {"confirm": {"yes"}, "reason": {"x"}, "csrf": {otherCSRF}},
		} {
			resp, body := op.do("POST", path, form, "text/html")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
				t.Errorf("POST %s with %s: %d, want 403 naming the CSRF token", path, name, resp.StatusCode)
			}
		}
		if role := need[p]; role == "approver" || role == "operator" {
			resp, body := viewer.do("POST", path, url.Values{"confirm": {"yes"}, "csrf": {viewerCSRF}}, "application/json")
			var jerr struct{ Error string }
			if resp.StatusCode != http.StatusForbidden || json.Unmarshal([]byte(body), &jerr) != nil || !strings.Contains(jerr.Error, role+" role") {
				t.Errorf("POST %s as a viewer: %d %s, want 403 naming the %s role", path, resp.StatusCode, body, role)
			}
		}
	}
	if st, _ := e.a.Guard().PauseStatus(context.Background()); st.Paused {
		t.Fatal("a refused POST paused execution")
	}
	// The operator's session still works: nothing above signed it out.
	if resp, _ := op.do("GET", "/breakers", nil, "text/html"); resp.StatusCode != http.StatusOK {
		t.Fatalf("operator session after the refused POSTs: %d", resp.StatusCode)
	}
}

// secretHostPlaybook acts on a webhook whose host is shaped like a Slack
// token: the audit trail redacts such a target, and so must every page
// that shows it (approvals, overview, breakers and budgets).
const secretHostPlaybook = `
name: secret-host
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
budget: ["3/1h"]
breaker: { failures: 1, window: 30m, cooldown: 1h }
steps:
  - action: webhook.notify
    approval: required
    timeout: 2s
    with: { url: "http://xoxb-1234567890-abcdefghij.invalid/%s" }
`

func TestPagesRedactTargets(t *testing.T) {
	const secret = "xoxb-1234567890-abcdefghij"
	e := start(t, strings.ReplaceAll(secretHostPlaybook, "%s", "x%.0s"))
	e.fire(t, "5ec4e7a1")
	ap := e.pending(t)
	if !strings.Contains(ap.Target, secret) {
		t.Fatalf("the approval's target %q does not hold the secret-shaped host: the test would prove nothing", ap.Target)
	}
	c := newClient(t, e.a.URL())
	c.signIn(operatorToken)
	check := func(path string) string {
		t.Helper()
		resp, page := c.do("GET", path, nil, "text/html")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		if strings.Contains(page, secret) {
			t.Errorf("%s renders the secret-shaped target %q", path, secret)
		}
		return page
	}
	if page := check("/approvals"); !strings.Contains(page, audit.Redacted) {
		t.Error("/approvals shows no redacted target")
	}
	check("/")
	check("/events/" + ap.EventID)
	// The test box plans the same step for a pasted payload.
	_, page := c.do("GET", "/playbooks", nil, "text/html")
	payload := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels:   map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "cart-api"},
		StartsAt: time.Now().UTC(), Fingerprint: "5ec4e7a2",
	})
	resp, body := c.do("POST", "/playbooks/test", url.Values{"csrf": {csrfOf(t, page)}, "source": {"alertmanager"}, "payload": {string(payload)}}, "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "matches <b>secret-host</b>") {
		t.Fatalf("test box: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, secret) {
		t.Error("the test box renders the secret-shaped target")
	}
	// Approve: the call fails (the host does not resolve), the breaker
	// opens and the budget holds a run on that target.
	_, page = c.do("GET", "/approvals", nil, "text/html")
	if resp, _ := c.do("POST", "/approvals/"+ap.ID+"/approve", url.Values{"csrf": {csrfOf(t, page)}, "plan_hash": {ap.PlanHash}}, "text/html"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", resp.StatusCode)
	}
	apptest.WaitFor(t, 15*time.Second, "the breaker to open", func() bool {
		bs, _ := e.a.Guard().Breakers(context.Background())
		return len(bs) == 1 && bs[0].State == guard.StateOpen
	})
	if page := check("/breakers"); !strings.Contains(page, "2 of 3 left") || !strings.Contains(page, audit.Redacted) {
		t.Errorf("/breakers lacks the budget row or its redacted target:\n%s", page)
	}
	check("/")
}

// An approval past its expiry that the sweeper has not expired yet shows
// as expired, not as expiring in the future.
func TestOverviewCountdownPastExpiry(t *testing.T) {
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(approvalPlaybook, sink.URL))
	cfg.API.Tokens = apiTokens()
	cfg.Approvals.SweepInterval = app.Duration(time.Hour)
	e := &env{a: apptest.Start(t, cfg, app.Options{Now: clk.Now}), sink: sink}
	e.fire(t, "c0c0c0c0")
	e.pending(t)
	c := newClient(t, e.a.URL())
	c.signIn(viewerToken)
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{0, "expires in 30m0s"}, {31 * time.Minute, "expired 1m0s ago"}} {
		clk.Advance(step.advance)
		for _, path := range []string{"/", "/approvals"} {
			resp, page := c.do("GET", path, nil, "text/html")
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, step.want) {
				t.Errorf("%s after %s: %d, want %q on the page", path, step.advance, resp.StatusCode, step.want)
			}
		}
	}
}

var hourCountRE = regexp.MustCompile(`id="count-(events|actions|refusals)"[^>]*>([^<]+)<`)

// The overview of a freshly started server over a real bbolt trail that
// spans two hours shows the last hour's counts (through the background
// warm-up the server starts, "counting…" before it is done), equal to a
// brute-force count; records older than an hour do not count.
func TestOverviewLastHourCounts(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 250_000_000, time.UTC)
	cfg := apptest.Config(t, "")
	kinds := []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepSucceeded, audit.KindStepFailed, audit.KindStepRefused, audit.KindStepSkipped}
	// The trail is written by one server, read by the next: the second
	// starts with nothing counted.
	first := apptest.Start(t, cfg, app.Options{Now: func() time.Time { return now }, NoDispatch: true})
	var recs []audit.Record
	for i := 0; i < 4000; i++ {
		recs = append(recs, audit.Record{Time: now.Add(-2*time.Hour + time.Duration(i)*(2*time.Hour/4000)), Kind: kinds[i%len(kinds)], EventID: fmt.Sprintf("e%d", i/6), Source: "test"})
	}
	if err := first.DB.Audit(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, r := range recs {
		if r.Time.Before(now.Add(-time.Hour)) {
			continue
		}
		switch r.Kind {
		case audit.KindReceived:
			want["events"]++
		case audit.KindStepSucceeded, audit.KindStepFailed:
			want["actions"]++
		case audit.KindStepRefused:
			want["refusals"]++
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg, app.Options{Now: func() time.Time { return now }, NoDispatch: true})
	c := newClient(t, a.URL())
	got := map[string]string{}
	apptest.WaitFor(t, 20*time.Second, "the overview's counts", func() bool {
		resp, body := c.do("GET", "/overview/counts", nil, "text/html")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /overview/counts: %d %s", resp.StatusCode, body)
		}
		for _, m := range hourCountRE.FindAllStringSubmatch(body, -1) {
			got[m[1]] = m[2]
		}
		if len(got) != 3 {
			t.Fatalf("the counters fragment lacks a counter: %s", body)
		}
		if strings.Contains(body, "counting") && !strings.Contains(body, `hx-get="/overview/counts"`) {
			t.Fatalf("a counting fragment that does not poll: %s", body)
		}
		return !strings.Contains(body, "counting")
	})
	_, page := c.do("GET", "/", nil, "text/html")
	for k, n := range want {
		if got[k] != fmt.Sprint(n) {
			t.Fatalf("%s in the last hour: the page shows %s, brute force %d (all: %v, want %v)", k, got[k], n, got, want)
		}
		if !strings.Contains(page, fmt.Sprintf(`id="count-%s">%d<`, k, n)) {
			t.Fatalf("the overview does not show %d %s", n, k)
		}
	}
}

const resolvePlaybook = `
name: notify-and-clear
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
steps:
  - action: webhook.notify
    timeout: 5s
    with: { url: "%[1]s/firing", body: { deployment: "{{ event.labels.deployment }}" } }
on_resolved:
  - action: webhook.notify
    timeout: 5s
    with: { url: "%[1]s/resolved", body: { cleared: "{{ event.labels.deployment }}" } }
`

// The timeline of a firing alert (the Slack link target) shows what ran
// on resolve: the on_resolved steps run on the resolved event, whose
// records the page lists under "On resolve", with a link to it.
func TestTimelineShowsOnResolve(t *testing.T) {
	e := start(t, resolvePlaybook)
	startsAt := time.Now().Add(-5 * time.Minute).UTC()
	post := func(status string) {
		t.Helper()
		body := apptest.AlertmanagerPayload(status, apptest.Alert{
			Labels:   map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "cart-api"},
			StartsAt: startsAt, Fingerprint: "0e5017ed",
		})
		if code, b := apptest.Post(t, e.a.URL()+"/hooks/alertmanager", body); code != 202 {
			t.Fatalf("POST %s alert: %d %s", status, code, b)
		}
	}
	post("firing")
	var firing string
	apptest.WaitFor(t, 10*time.Second, "the firing step to succeed", func() bool {
		recs := e.records(t, audit.Query{Kind: audit.KindStepSucceeded})
		if len(recs) == 1 {
			firing = recs[0].EventID
		}
		return firing != ""
	})
	c := newClient(t, e.a.URL())
	c.signIn(viewerToken)
	if _, page := c.do("GET", eventPath(firing), nil, "text/html"); strings.Contains(page, `id="on-resolve"`) {
		t.Fatal("the timeline shows an On resolve section before the alert resolved")
	}
	post("resolved")
	apptest.WaitFor(t, 10*time.Second, "the on_resolved step to succeed", func() bool {
		return len(e.records(t, audit.Query{Kind: audit.KindStepSucceeded})) == 2
	})
	recs := e.records(t, audit.Query{Kind: audit.KindStepSucceeded})
	resolved := recs[1].EventID
	if resolved == firing {
		t.Fatalf("the on_resolved step ran on the firing event %s", firing)
	}
	resp, page := c.do("GET", eventPath(firing), nil, "text/html")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the firing timeline: %d", resp.StatusCode)
	}
	i := strings.Index(page, `id="on-resolve"`)
	if i < 0 {
		t.Fatalf("the firing event's timeline has no On resolve section:\n%s", page)
	}
	section := page[i:]
	for _, want := range []string{"step.succeeded", "webhook.notify", "event.received", "on_resolved"} {
		if !strings.Contains(section, want) {
			t.Errorf("the On resolve section lacks %q", want)
		}
	}
	if !strings.Contains(page, `id="resolved-link">`+resolved+`<`) {
		t.Errorf("the timeline does not link the resolved event %s", resolved)
	}
	if got := len(e.sink.Requests()); got != 2 {
		t.Fatalf("the receiver got %d calls, want the firing and the resolved one", got)
	}
}

// eventPath is the dashboard path of an event id.
func eventPath(id string) string {
	segs := strings.Split(id, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/events/" + strings.Join(segs, "/")
}

// /playbooks lists the loaded set (name, mode, file:line, match rule,
// matches, last matched) and, after a refused reload, the problems of the
// new files while the old set stays loaded.
func TestPlaybooksPageSetAndReloadErrors(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(autoPlaybookForList, sink.URL))
	cfg.API.Tokens = apiTokens()
	e := &env{a: apptest.Start(t, cfg, app.Options{}), sink: sink}
	e.fire(t, "11575001")
	apptest.WaitFor(t, 10*time.Second, "the step to succeed", func() bool {
		return len(e.records(t, audit.Query{Kind: audit.KindStepSucceeded})) == 1
	})
	c := newClient(t, e.a.URL())
	c.signIn(viewerToken)
	_, page := c.do("GET", "/playbooks", nil, "text/html")
	row := regexp.MustCompile(`(?s)<tr><td><b>notify-cart-list</b>.*?</tr>`).FindString(page)
	for _, want := range []string{"tell the deploy bot", "<td>auto</td>", "playbooks.yaml:2", `<code>event.source == &#34;alertmanager&#34;`, "<td>1</td>"} {
		if !strings.Contains(row, want) {
			t.Errorf("the playbook's row lacks %q:\n%s", want, row)
		}
	}
	if strings.Contains(row, "<td>—</td>") {
		t.Errorf("the playbook's row shows no last match:\n%s", row)
	}
	if strings.Contains(page, `id="reload-error"`) {
		t.Fatal("a reload error is shown before any reload")
	}

	bad := "name: broken\nmatch: event.source ==\nsteps:\n  - action: webhook.notify\n    with: { url: \"http://127.0.0.1:1\" }\n"
	if err := os.WriteFile(filepath.Join(cfg.Playbooks[0], "broken.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := apptest.PostAs(t, e.a.URL()+"/api/v1/playbooks/reload", operatorToken, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("reload of a broken file: %d %s", code, body)
	}
	_, page = c.do("GET", "/playbooks", nil, "text/html")
	i := strings.Index(page, `id="reload-error"`)
	if i < 0 {
		t.Fatalf("/playbooks does not show the refused reload:\n%s", page)
	}
	if box := page[i:]; !strings.Contains(box, "broken.yaml:2:") {
		t.Errorf("the reload error does not name the file and line:\n%s", box)
	}
	if !strings.Contains(page, "<b>notify-cart-list</b>") || strings.Contains(page, "<b>broken</b>") {
		t.Error("after a refused reload the page does not list the old set alone")
	}
}

const autoPlaybookForList = `
name: notify-cart-list
description: tell the deploy bot
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%s/notify"
      body: { deployment: "{{ event.labels.deployment }}" }
`

var externalRef = regexp.MustCompile(`(?i)<(?:script|link)[^>]+(?:src|href)="([^"]+)"`)

// htmx is served from the binary (embedded, the npm package's 2.0.11), and
// no page loads a script or style sheet from anywhere else.
func TestHtmxEmbeddedNoCDN(t *testing.T) {
	a := apptest.Start(t, apptest.Config(t, ""), app.Options{})
	c := newClient(t, a.URL())
	for _, path := range []string{"/", "/approvals", "/breakers", "/playbooks", "/audit"} {
		resp, page := c.do("GET", path, nil, "text/html")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		refs := externalRef.FindAllStringSubmatch(page, -1)
		if len(refs) == 0 {
			t.Fatalf("GET %s loads no script or style sheet", path)
		}
		for _, m := range refs {
			if !strings.HasPrefix(m[1], "/static/") {
				t.Errorf("GET %s loads %s, not from /static/", path, m[1])
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q lets scripts come from elsewhere", path, csp)
		}
	}
	resp, js := c.do("GET", "/static/htmx.min.js", nil, "*/*")
	if resp.StatusCode != http.StatusOK || !strings.Contains(js, `version:"2.0.11"`) {
		t.Fatalf("GET /static/htmx.min.js: %d, %d bytes", resp.StatusCode, len(js))
	}
}
