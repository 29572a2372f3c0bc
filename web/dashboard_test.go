package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/dashboard"
)

type noTimelines struct{}

func (noTimelines) Timeline(context.Context, string) (dashboard.Timeline, error) {
	return dashboard.Timeline{}, dashboard.ErrNotFound
}

// dashServer serves web.New with the dashboard on a real listener and a
// real store; the guard is the recording one of the API tests.
func dashServer(t *testing.T, tokens []web.APIToken, openReads bool) (*httptest.Server, *store.DB, *recordingGuards) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "firebreak.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	g := &recordingGuards{}
	s := web.New(web.Config{Inbox: db, Audit: db, Engine: nopEngine{}, Tokens: tokens, OpenReads: openReads, AuditLog: db, Guards: g,
		Dashboard: &dashboard.Deps{State: db, Audit: db, Timelines: noTimelines{}, Playbooks: func() *playbooks.Set { return nil }}})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, db, g
}

type browserClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browserClient {
	jar, _ := cookiejar.New(nil)
	return &browserClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browserClient) do(method, path string, form url.Values, hdr ...string) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfIn(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in:\n%s", page)
	}
	return m[1]
}

// signIn posts token to /login and returns the status.
func (b *browserClient) signIn(token string, hdr ...string) int {
	b.t.Helper()
	_, page := b.do("GET", "/login", nil)
	code, _ := b.do("POST", "/login", url.Values{"csrf": {csrfIn(b.t, page)}, "token": {token}, "next": {"/"}}, hdr...)
	return code
}

// pause confirms a pause from the overview and returns the status.
func (b *browserClient) pause() int {
	b.t.Helper()
	_, page := b.do("GET", "/", nil)
	code, _ := b.do("POST", "/pause", url.Values{"csrf": {csrfIn(b.t, page)}, "reason": {"drill"}, "confirm": {"yes"}})
	return code
}

// TestDashboardSignsInWithAPITokens: the dashboard's sign-in is the API's
// token table. A token of api.tokens signs in with its name and role, the
// role decides what the session may do, and the actor recorded is the
// token's name; an unknown token is refused and audited with the TCP peer
// (never a forwarded header) and without the token.
func TestDashboardSignsInWithAPITokens(t *testing.T) {
	srv, db, g := dashServer(t, []web.APIToken{
		{Name: "victor", Role: web.RoleViewer, Secret: viewerTok},
		{Name: "alice", Role: web.RoleApprover, Secret: approverTok},
		{Name: "olga", Role: web.RoleOperator, Secret: operatorTok},
	}, true)

	anon := newBrowser(t, srv.URL)
	if code, _ := anon.do("GET", "/", nil); code != http.StatusSeeOther {
		t.Fatalf("with tokens configured a loopback peer reads without signing in: %d", code)
	}
	if code := anon.signIn("not-a-token-0123456789", "X-Forwarded-For", "203.0.113.9"); code != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", code)
	}
	recs, _, err := db.ListAudit(context.Background(), audit.Query{Kind: audit.KindAuthFailed, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Source != "dashboard" || recs[0].Actor != "127.0.0.1" || strings.Contains(recs[0].Message, "not-a-token") {
		t.Fatalf("refused sign-in records: %+v", recs)
	}

	for _, tc := range []struct {
		token string
		pause int
	}{{viewerTok, http.StatusForbidden}, {approverTok, http.StatusForbidden}, {operatorTok, http.StatusSeeOther}} {
		b := newBrowser(t, srv.URL)
		if code := b.signIn(tc.token); code != http.StatusSeeOther {
			t.Fatalf("sign in with %.6s…: %d", tc.token, code)
		}
		if code := b.pause(); code != tc.pause {
			t.Fatalf("pause signed in with %.6s…: %d, want %d", tc.token, code, tc.pause)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.actors) != 1 || g.actors[0] != "olga (dashboard)" {
		t.Fatalf("pause actors %q, want the operator token's name only", g.actors)
	}
}

// TestDashboardOpenModeFollowsAPI: without tokens the dashboard opens
// exactly when the API's viewer routes do (loopback listener, loopback
// peer), for reading only: even then nobody pauses. A non-loopback
// listener keeps it closed to loopback peers too.
func TestDashboardOpenModeFollowsAPI(t *testing.T) {
	srv, _, g := dashServer(t, nil, true)
	b := newBrowser(t, srv.URL)
	code, page := b.do("GET", "/", nil)
	if code != http.StatusOK || !strings.Contains(page, "local") {
		t.Fatalf("open mode, loopback peer: %d", code)
	}
	if strings.Contains(page, `id="pause"`) {
		t.Fatal("open mode offers the kill switch")
	}
	if code := b.pause(); code != http.StatusForbidden {
		t.Fatalf("open mode pause: %d", code)
	}
	g.mu.Lock()
	if len(g.actors) != 0 {
		t.Fatalf("paused in open mode by %q", g.actors)
	}
	g.mu.Unlock()

	closed, _, _ := dashServer(t, nil, false)
	if code, _ := newBrowser(t, closed.URL).do("GET", "/", nil); code != http.StatusSeeOther {
		t.Fatalf("no tokens and a non-loopback listener: a loopback peer got %d, want the sign-in redirect", code)
	}
}

// rewriteSessions applies fn to every stored dashboard session record.
func rewriteSessions(t *testing.T, db *store.DB, fn func(rec map[string]any)) {
	t.Helper()
	err := db.Update(context.Background(), func(tx state.Tx) error {
		type kv struct {
			k string
			v []byte
		}
		var all []kv
		if err := tx.ForEach("dashboard_sessions", func(k string, v []byte) error { all = append(all, kv{k, v}); return nil }); err != nil {
			return err
		}
		if len(all) == 0 {
			t.Fatal("no stored session to rewrite")
		}
		for _, e := range all {
			var rec map[string]any
			if err := json.Unmarshal(e.v, &rec); err != nil {
				return err
			}
			fn(rec)
			b, _ := json.Marshal(rec)
			if err := tx.Put("dashboard_sessions", e.k, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A session's powers come from the token table, not from what the store
// holds: a stored session rewritten to the operator role stays a viewer,
// and one renamed to the operator's token name (its fingerprint made with
// the viewer's token) ends.
func TestDashboardSessionRolesComeFromTokens(t *testing.T) {
	srv, db, g := dashServer(t, []web.APIToken{
		{Name: "victor", Role: web.RoleViewer, Secret: viewerTok},
		{Name: "olga", Role: web.RoleOperator, Secret: operatorTok},
	}, false)
	b := newBrowser(t, srv.URL)
	if code := b.signIn(viewerTok); code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", code)
	}
	rewriteSessions(t, db, func(rec map[string]any) { rec["roles"] = []string{"viewer", "approver", "operator"} })
	if code := b.pause(); code != http.StatusForbidden {
		t.Fatalf("pause with a session whose stored roles were raised: %d, want 403", code)
	}
	rewriteSessions(t, db, func(rec map[string]any) { rec["name"] = "olga" })
	if code, _ := b.do("GET", "/", nil); code != http.StatusSeeOther {
		t.Fatalf("a session renamed to another token's name: %d, want the sign-in", code)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.actors) != 0 {
		t.Fatalf("paused by %q", g.actors)
	}
}
