package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
)

// TestReadAPINeedsATokenOnceOneIsConfigured: with operator, viewer and
// approver tokens configured (api.tokens), the read-only API answers only a bearer
// token that is the operator token or has the viewer or approver role, even
// on loopback; /metrics and the health checks stay open.
func TestReadAPINeedsATokenOnceOneIsConfigured(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, "http://127.0.0.1:1"))
	cfg.API.Tokens = []app.APIToken{
		{Name: "ops", Token: "operator-token-0123456789", Role: "operator"},
		{Name: "dash", Token: "viewer-token-0123456789", Role: "viewer"},
		{Name: "oncall", Token: "approver-token-0123456789", Role: "approver"},
	}
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	get := func(path, token string) (int, string) {
		code, b := getAs(t, a.URL()+path, token)
		return code, string(b)
	}
	for _, path := range []string{"/api/v1/audit", "/api/v1/audit/verify", "/api/v1/playbooks", "/api/v1/audit/timeline/am:none", "/api/v1/breakers", "/api/v1/pause", "/api/v1/approvals"} {
		for _, tok := range []string{"", "wrong-token", "operator-token-012345678"} {
			code, body := get(path, tok)
			if code != http.StatusUnauthorized {
				t.Errorf("GET %s with %q = %d %s, want 401", path, tok, code, body)
			}
			if tok != "" && strings.Contains(body, tok) {
				t.Errorf("GET %s: the answer echoes the token: %s", path, body)
			}
		}
		for _, tok := range []string{"operator-token-0123456789", "viewer-token-0123456789", "approver-token-0123456789"} {
			if path == "/api/v1/approvals" && strings.HasPrefix(tok, "operator") {
				continue // approvals answer their own tokens only
			}
			code, body := get(path, tok)
			if code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
				t.Errorf("GET %s with a %s token = %d %s", path, strings.SplitN(tok, "-", 2)[0], code, body)
			}
		}
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, body := get(path, ""); code != http.StatusOK {
			t.Errorf("GET %s without a token = %d %s, want 200", path, code, body)
		}
	}
	n, recs := refusalCount(t, a, "api")
	if n != 7*3 {
		t.Errorf("auth.failed records count %d refusals, want one per refused read (21)", n)
	}
	for _, r := range recs {
		if strings.Contains(r.Message, "token-0123") || strings.Contains(r.Actor, "token-0123") {
			t.Errorf("an audit record names a token: %+v", r)
		}
	}
}

// TestReadAPIWithoutTokensIsLoopbackOnly: with no token configured the
// read API answers loopback peers (the README's Try it) and refuses
// others.
func TestReadAPIWithoutTokensIsLoopbackOnly(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, "http://127.0.0.1:1"))
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	resp, err := http.Get(a.URL() + "/api/v1/audit")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/audit from loopback = %d, want 200", resp.StatusCode)
	}
	// Another peer address: served in-process, as a proxy on another
	// host would reach it.
	req := httptest.NewRequest(http.MethodGet, "/api/v1/audit", nil)
	req.RemoteAddr = "192.0.2.7:40000"
	rec := httptest.NewRecorder()
	a.Web.ServeHTTP(rec, req)
	code, body := rec.Code, rec.Body.String()
	if code != http.StatusForbidden || !strings.Contains(body, "api.tokens") {
		t.Fatalf("GET /api/v1/audit from 192.0.2.7 = %d %s, want 403 naming api.tokens", code, body)
	}
}
