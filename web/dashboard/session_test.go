package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/web/dashboard"
)

// testBox posts an empty Alertmanager payload to the test box with csrf:
// a state-changing request any signed-in role may make.
func (c *client) testBox(csrf string) int {
	c.t.Helper()
	resp, _ := c.do("POST", "/playbooks/test", url.Values{"csrf": {csrf}, "source": {"alertmanager"}, "payload": {`{"version":"4","status":"firing","alerts":[]}`}}, "text/html")
	return resp.StatusCode
}

// signedIn reports whether GET /approvals answers the page as name (not
// a redirect to /login), and returns the page.
func (c *client) signedIn(name string) (bool, string) {
	c.t.Helper()
	resp, body := c.do("GET", "/approvals", nil, "text/html")
	switch {
	case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"):
		return false, body
	case resp.StatusCode != http.StatusOK || !strings.Contains(body, name):
		c.t.Fatalf("GET /approvals: %d, signed in as %s: %v\n%s", resp.StatusCode, name, strings.Contains(body, name), body)
	}
	return true, body
}

// viewer is the read side of the state store (store.Backend has it).
type viewer interface {
	View(ctx context.Context, fn func(state.Tx) error) error
}

func sessionCount(t *testing.T, st viewer) int {
	t.Helper()
	n := 0
	if err := st.View(context.Background(), func(tx state.Tx) error {
		return tx.ForEach("dashboard_sessions", func(k string, v []byte) error {
			n++
			if strings.Contains(string(v), approverToken) || strings.Contains(k, approverToken) {
				t.Fatalf("the stored session holds the token: %s %s", k, v)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// A session lives in the state store (the bbolt file): it survives a
// restart, its CSRF token with it; and it is checked against the tokens
// of the restarted server's configuration: a changed role applies at once,
// a token removed or given a new secret ends it.
func TestSessionSurvivesRestart(t *testing.T) {
	cfg := apptest.Config(t, "")
	cfg.API.Tokens = apiTokens()
	a := apptest.Start(t, cfg, app.Options{})
	c := newClient(t, a.URL())
	c.signIn(approverToken)
	ok, page := c.signedIn("alice")
	if !ok {
		t.Fatal("not signed in after signing in")
	}
	csrf := csrfOf(t, page)
	if n := sessionCount(t, a.DB); n != 1 {
		t.Fatalf("%d stored sessions after one sign-in", n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	restart := func(tokens []app.APIToken) {
		t.Helper()
		cfg.API.Tokens = tokens
		a = apptest.Start(t, cfg, app.Options{})
		c.base = a.URL() // the jar keeps the cookie: cookies do not vary by port
	}
	restart(apiTokens())
	if ok, page := c.signedIn("alice"); !ok || !strings.Contains(page, "alice · viewer, approver\n") {
		t.Fatalf("a restart signed alice out, or changed her roles (signed in: %v)", ok)
	}
	if code := c.testBox(csrf); code != http.StatusOK {
		t.Fatalf("the session's CSRF token after a restart: %d", code)
	}
	if code := c.testBox("wrong" + csrf); code != http.StatusForbidden {
		t.Fatalf("a wrong CSRF token after a restart: %d", code)
	}
	_ = a.Close()

	// alice becomes a viewer: the session goes on, as a viewer.
	tokens := apiTokens()
	tokens[0].Role = "viewer"
	restart(tokens)
	ok, page = c.signedIn("alice")
	if !ok {
		t.Fatal("a role change ended the session")
	}
	if !strings.Contains(page, "alice · viewer\n") {
		t.Fatalf("after the role change to viewer the page does not show alice as a viewer only:\n%s", page)
	}
	resp, _ := c.do("POST", "/approvals/x/approve", url.Values{"csrf": {csrf}}, "application/json")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer's decision after the role change: %d, want 403", resp.StatusCode)
	}
	_ = a.Close()

	// alice's token gets a new secret: the session made with the old one ends.
	tokens = apiTokens()
	tokens[0].Token = "approver-token-rotated-0123456789"
	restart(tokens)
	if ok, _ := c.signedIn("alice"); ok {
		t.Fatal("a session made with a replaced token still works")
	}
	if n := sessionCount(t, a.DB); n != 0 {
		t.Fatalf("the ended session is still stored (%d)", n)
	}
	_ = a.Close()

	// Removed: a new session with the old secret, then the token is gone.
	restart(apiTokens())
	c.signIn(approverToken)
	_ = a.Close()
	restart(apiTokens()[1:])
	if ok, _ := c.signedIn("alice"); ok {
		t.Fatal("a session of a removed token still works")
	}
}

// In clustered mode two replicas behind a load balancer share the
// sessions through etcd: a sign-in on one works on the other, CSRF token
// included, and a sign-out on one ends it on both.
func TestSessionsAcrossEtcdReplicas(t *testing.T) {
	endpoint := dashboard.StartEtcd(t)
	replica := func(node string) *app.App {
		cfg := apptest.Config(t, "")
		cfg.API.Tokens = apiTokens()
		cfg.Store.Etcd = &config.EtcdConfig{Endpoints: []string{endpoint}, Prefix: "/fb-sessions"}
		cfg.Cluster.Node = node
		return apptest.Start(t, cfg, app.Options{})
	}
	a, b := replica("replica-a"), replica("replica-b")
	ca := newClient(t, a.URL())
	ca.signIn(approverToken)
	_, page := ca.signedIn("alice")
	csrf := csrfOf(t, page)

	cb := &client{t: t, base: b.URL(), c: ca.c} // the same browser, the other replica
	if ok, _ := cb.signedIn("alice"); !ok {
		t.Fatal("the session of replica a does not work on replica b")
	}
	if code := cb.testBox(csrf); code != http.StatusOK {
		t.Fatalf("replica a's CSRF token on replica b: %d", code)
	}
	if code := cb.testBox("wrong" + csrf); code != http.StatusForbidden {
		t.Fatalf("a wrong CSRF token on replica b: %d", code)
	}
	// Keep a copy of the cookie: a sign-out must end the session in the
	// store, not only in this browser.
	u, _ := url.Parse(a.URL())
	cookies := ca.c.Jar.Cookies(u)

	resp, _ := cb.do("POST", "/logout", url.Values{"csrf": {csrf}}, "text/html")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out on replica b: %d", resp.StatusCode)
	}
	ca.c.Jar.SetCookies(u, cookies)
	if ok, _ := ca.signedIn("alice"); ok {
		t.Fatal("signed out on replica b, the cookie still works on replica a")
	}
}

// cookieNamed returns the Set-Cookie of name in resp, or nil.
func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// The dashboard: section of the configuration file: secure_cookies marks
// the cookies Secure on plain HTTP (a TLS-terminating proxy in front), and
// session_ttl is how long a session lasts, on the server's clock.
func TestDashboardConfigCookiesAndTTL(t *testing.T) {
	cfg, err := config.Parse("firebreak.yaml", []byte(`
dashboard:
  secure_cookies: true
  session_ttl: 30m
api:
  tokens:
    - { name: victor, role: viewer, token: `+viewerToken+` }
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	clk := &testClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	a := apptest.Start(t, cfg, app.Options{Now: clk.Now})
	// No cookie jar: it would not send Secure cookies over plain HTTP,
	// which is what the setting is for (the browser talks HTTPS to the
	// proxy).
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, cookies ...*http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", a.URL()+path, nil)
		req.Header.Set("Accept", "text/html")
		for _, ck := range cookies {
			req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	resp := get("/login")
	pre := cookieNamed(resp, "firebreak_login")
	if pre == nil || !pre.Secure || !pre.HttpOnly {
		t.Fatalf("the sign-in form's cookie over plain HTTP with secure_cookies: %+v, want Secure", pre)
	}
	form := url.Values{"csrf": {pre.Value}, "token": {viewerToken}, "next": {"/"}}
	req, _ := http.NewRequest("POST", a.URL()+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: pre.Name, Value: pre.Value})
	if resp, err = hc.Do(req); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	sess := cookieNamed(resp, "firebreak_session")
	if resp.StatusCode != http.StatusSeeOther || sess == nil {
		t.Fatalf("sign in: %d, cookie %+v", resp.StatusCode, sess)
	}
	if !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.MaxAge != 1800 {
		t.Fatalf("session cookie over plain HTTP with secure_cookies and session_ttl 30m: %+v, want Secure, HttpOnly, SameSite=Strict, Max-Age=1800", sess)
	}
	if resp := get("/breakers", sess); resp.StatusCode != http.StatusOK {
		t.Fatalf("a page with the new session: %d", resp.StatusCode)
	}
	clk.Advance(30*time.Minute - time.Second)
	if resp := get("/breakers", sess); resp.StatusCode != http.StatusOK {
		t.Fatalf("the session a second before session_ttl: %d", resp.StatusCode)
	}
	clk.Advance(time.Second)
	if resp := get("/breakers", sess); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("the session at session_ttl: %d %s, want the sign-in", resp.StatusCode, resp.Header.Get("Location"))
	}
}
