package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
)

// recordingGuards stands in for the guard at the API's edge (the app's
// tests run the real one) and records who paused.
type recordingGuards struct {
	mu     sync.Mutex
	actors []string
}

func (g *recordingGuards) Breakers(context.Context) ([]guard.BreakerStatus, error) { return nil, nil }
func (g *recordingGuards) Budgets(context.Context, *playbooks.Set) ([]guard.BudgetStatus, error) {
	return nil, nil
}
func (g *recordingGuards) ResetBreaker(context.Context, string, string) (guard.BreakerStatus, error) {
	return guard.BreakerStatus{}, guard.ErrUnknownBreaker
}
func (g *recordingGuards) PauseStatus(context.Context) (guard.PauseStatus, error) {
	return guard.PauseStatus{}, nil
}
func (g *recordingGuards) Pause(_ context.Context, actor, _ string) (guard.PauseStatus, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.actors = append(g.actors, actor)
	return guard.PauseStatus{Paused: true, By: actor}, nil
}
func (g *recordingGuards) Resume(context.Context, string) (guard.PauseStatus, error) {
	return guard.PauseStatus{}, nil
}

// apiServer serves the API over db; flush stops the refusal aggregation,
// recording the auth.failed counts still held.
func apiServer(t *testing.T, tokens []web.APIToken, openReads bool) (srv *httptest.Server, db *store.DB, g *recordingGuards, flush func()) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "firebreak.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	g = &recordingGuards{}
	s := web.New(web.Config{Inbox: db, Audit: db, Engine: nopEngine{}, Tokens: tokens, OpenReads: openReads, AuditLog: db, Guards: g})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	flush = func() { cancel(); <-done }
	t.Cleanup(flush)
	srv = httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, db, g, flush
}

func call(t *testing.T, method, u, auth string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("X-Firebreak-Actor", "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const (
	viewerTok   = "viewer-token-0123456789"
	approverTok = "approver-token-0123456789"
	operatorTok = "operator-token-0123456789"
)

// TestAPIRolesAndTokens: one middleware decides every /api/v1 route by the
// token's role; the bearer scheme is case-insensitive and whitespace
// around the token is ignored; a prefix or another scheme is refused.
func TestAPIRolesAndTokens(t *testing.T) {
	srv, db, g, flush := apiServer(t, []web.APIToken{
		{Name: "dash", Role: web.RoleViewer, Secret: viewerTok},
		{Name: "bot", Role: web.RoleApprover, Secret: approverTok},
		{Name: "ops", Role: web.RoleOperator, Secret: operatorTok},
	}, true)
	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"read without a token", "GET", "/api/v1/pause", "", 401},
		{"read with a viewer token", "GET", "/api/v1/pause", "Bearer " + viewerTok, 200},
		{"read with an operator token", "GET", "/api/v1/audit", "Bearer " + operatorTok, 200},
		{"budgets with a viewer token", "GET", "/api/v1/budgets", "Bearer " + viewerTok, 200},
		{"lower-case scheme and spaces", "GET", "/api/v1/pause", "bearer   " + viewerTok + "  ", 200},
		{"a prefix of a token", "GET", "/api/v1/pause", "Bearer " + viewerTok[:10], 401},
		{"another scheme", "GET", "/api/v1/pause", "Basic " + viewerTok, 401},
		{"pause as viewer", "POST", "/api/v1/pause", "Bearer " + viewerTok, 403},
		{"pause as approver", "POST", "/api/v1/pause", "Bearer " + approverTok, 403},
		{"pause as operator", "POST", "/api/v1/pause", "Bearer " + operatorTok, 200},
		{"reset as operator", "POST", "/api/v1/breakers/00/reset", "Bearer " + operatorTok, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := call(t, tc.method, srv.URL+tc.path, tc.auth)
			if code != tc.want {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, code, body, tc.want)
			}
			if code == 401 && h.Get("WWW-Authenticate") != `Bearer realm="firebreak"` {
				t.Errorf("401 without WWW-Authenticate: %v", h)
			}
			if code >= 400 {
				var e struct{ Error string }
				if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
					t.Errorf("error answer is not JSON with an error: %s", body)
				}
			}
			if strings.Contains(body, "token-0123") {
				t.Errorf("the answer echoes a token: %s", body)
			}
		})
	}
	if len(g.actors) != 1 || g.actors[0] != "alice (api:ops)" {
		t.Errorf("pause actors = %q, want the token's name after the header's", g.actors)
	}
	// The refusals are aggregated like the webhook sources' (issue 14):
	// the first of each caller and outcome at once, the rest counted in one
	// record when the aggregation stops.
	flush()
	recs, _, err := db.ListAudit(context.Background(), audit.Query{Kind: audit.KindAuthFailed, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	counts, records := map[string]int{}, map[string]int{}
	for _, r := range recs {
		n, _ := r.Data["count"].(float64)
		counts[r.Source+" "+r.Outcome+" "+r.Actor] += int(n)
		records[r.Source+" "+r.Outcome+" "+r.Actor]++
		if b, _ := json.Marshal(r); strings.Contains(string(b), "token-0123") {
			t.Errorf("an audit record holds a token: %s", b)
		}
	}
	if counts["api unauthorized 127.0.0.1"] != 3 || counts["api forbidden api:dash"] != 1 || counts["api forbidden api:bot"] != 1 || len(counts) != 3 {
		t.Errorf("refusals counted by outcome and actor = %v", counts)
	}
	if records["api unauthorized 127.0.0.1"] != 2 {
		t.Errorf("%d records of the three unauthorized requests, want the first and one aggregate", records["api unauthorized 127.0.0.1"])
	}
}

// TestAPIWithoutTokens: nothing is trusted for being local. Operator routes
// refuse loopback callers; viewer routes answer them only when the server
// opened reads (a loopback listener).
func TestAPIWithoutTokens(t *testing.T) {
	for _, open := range []bool{true, false} {
		srv, _, g, _ := apiServer(t, nil, open)
		code, _, body := call(t, "POST", srv.URL+"/api/v1/pause", "")
		if code != http.StatusForbidden || !strings.Contains(body, "api.tokens") {
			t.Errorf("open=%v: POST /api/v1/pause = %d %s, want 403 naming api.tokens", open, code, body)
		}
		code, _, body = call(t, "POST", srv.URL+"/api/v1/pause", "Bearer anything-at-all-0123")
		if code != http.StatusForbidden {
			t.Errorf("open=%v: POST /api/v1/pause with an unconfigured token = %d %s, want 403", open, code, body)
		}
		if len(g.actors) != 0 {
			t.Fatalf("open=%v: paused by %q", open, g.actors)
		}
		code, _, body = call(t, "GET", srv.URL+"/api/v1/audit", "")
		if want := map[bool]int{true: 200, false: 403}[open]; code != want {
			t.Errorf("open=%v: GET /api/v1/audit = %d %s, want %d", open, code, body, want)
		}
	}
}
