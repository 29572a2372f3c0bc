package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
)

// TestOperatorEndpointsNeedTheToken: with an operator token (api.tokens), reload and
// replay (like pause and breaker reset) refuse requests without it.
func TestOperatorEndpointsNeedTheToken(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, "http://127.0.0.1:1"))
	cfg.API.Tokens = []app.APIToken{{Name: "ops", Role: "operator", Token: "operator-token-0123456789"}}
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	for _, path := range []string{"/api/v1/playbooks/reload", "/api/v1/replay"} {
		for _, tc := range []struct {
			auth string
			want int
		}{{"", http.StatusUnauthorized}, {"Bearer wrong", http.StatusUnauthorized}, {"Bearer operator-token-0123456789", http.StatusOK}} {
			req, _ := http.NewRequest(http.MethodPost, a.URL()+path, strings.NewReader(`{"since":"1h"}`))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("POST %s with %q = %d, want %d", path, tc.auth, resp.StatusCode, tc.want)
			}
		}
	}
}

// TestNoLoopbackTrustWithoutTokens is the regression test of issue 14 item
// 4: with no api.tokens, a local caller with no token — any process on the
// host, or a webhook that event data pointed at 127.0.0.1 — was trusted and
// could pause the kill switch. Now every operator and approver route
// refuses it with 403 and a JSON body naming api.tokens, and nothing
// changes; viewer reads stay open to loopback peers of a loopback listener.
func TestNoLoopbackTrustWithoutTokens(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, "http://127.0.0.1:1"))
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	for _, path := range []string{
		"/api/v1/pause", "/api/v1/resume", "/api/v1/breakers/0123456789abcdef/reset",
		"/api/v1/playbooks/reload", "/api/v1/replay",
		"/api/v1/approvals/apr-x/approve", "/api/v1/approvals/apr-x/deny",
	} {
		code, body := apptest.Post(t, a.URL()+path, []byte(`{"reason":"from event data","since":"1h","plan_hash":"x"}`))
		if code != http.StatusForbidden || !strings.Contains(string(body), "api.tokens") || !strings.HasPrefix(string(body), `{"error":`) {
			t.Errorf("POST %s from loopback without tokens = %d %s, want 403 naming api.tokens", path, code, body)
		}
	}
	st, err := a.Guard().PauseStatus(t.Context())
	if err != nil || st.Paused {
		t.Fatalf("the kill switch = %+v, %v; want not paused", st, err)
	}
	code, body := getAs(t, a.URL()+"/api/v1/audit", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/audit from loopback without tokens = %d %s, want 200 (the quick start)", code, body)
	}
}

// TestNoOpenReadsOnAnExposedListener: with no tokens and a listen address
// that is not loopback, the viewer routes close too, even to loopback
// peers (a local reverse proxy would otherwise expose them).
func TestNoOpenReadsOnAnExposedListener(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, "http://127.0.0.1:1"))
	cfg.Listen = "0.0.0.0:0"
	cfg.Sources = map[string]app.SourceConfig{"alertmanager": {Insecure: true}}
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	u := "http://127.0.0.1:" + a.Addr()[strings.LastIndex(a.Addr(), ":")+1:]
	if code, body := getAs(t, u+"/api/v1/audit", ""); code != http.StatusForbidden || !strings.Contains(string(body), "api.tokens") {
		t.Fatalf("GET /api/v1/audit = %d %s, want 403 naming api.tokens", code, body)
	}
}
